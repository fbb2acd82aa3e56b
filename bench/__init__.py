"""Benchmarks: each prints mediajobs' figure beside a baseline measured in the same run."""
