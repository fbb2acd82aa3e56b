"""mediajobs metadata service."""
