"""The change feed: every announced job change is also appended to one capped stream (`keys.JOB_CHANGES`),
so a dashboard follows every job in one connection and resumes from the last event id it saw."""

from __future__ import annotations

CHANGES_MAXLEN = 20_000
"""About this many recent changes are kept (trimmed approximately on every append)."""
CHANGES_TTL_S = 24 * 3600
"""The feed expires this long after the last change (refreshed by every append)."""
