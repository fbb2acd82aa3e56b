"""mediajobs imaging service."""
