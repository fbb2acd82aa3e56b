"""Counts in words that agree with them: `1 job`, `2 jobs`, `this job`, `these 2 jobs`."""

from __future__ import annotations


def counted(number: int, one: str, many: str) -> str:
    """`number` and the word for that many: `counted(1, "job", "jobs")` is `1 job`."""
    return f"{number} {one if number == 1 else many}"


def these_jobs(number: int) -> str:
    """What a confirmation acts on: `this job`, `these 2 jobs`."""
    return "this job" if number == 1 else f"these {number} jobs"


def newer_ones(number: int) -> str:
    """`1 newer one matches`, `3 newer ones match`."""
    return "1 newer one matches" if number == 1 else f"{number} newer ones match"


def more_match(number: int) -> str:
    """`1 more matches`, `3 more match`."""
    return f"{number} more {'matches' if number == 1 else 'match'}"


def them(number: int) -> str:
    """What stands for that many: `it`, `them`."""
    return "it" if number == 1 else "them"
