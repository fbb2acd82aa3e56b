"""The first element of every job-state script's reply, named once.

The Lua scripts see each as a constant `REPLY_<NAME>` (`jobcommon.scripts` prepends them), so a number is
spelled nowhere but here.
"""

from __future__ import annotations

from enum import IntEnum


class Reply(IntEnum):
    APPLIED = 1
    """The change was made (a job created, started or moved)."""
    REFUSED = 0
    """Not allowed from the job's current status (sent along), or its task id is taken (create)."""
    MISSING = -1
    """No such job (never existed, or its record expired)."""
    LOST = -3
    """The caller's run no longer owns the job: its delivery was reclaimed, or another run started."""
    IDEMPOTENT = 2
    """create: the client's idempotency key already made a job (its id is sent along)."""
    DUPLICATE = 3
    """create: a live job already does the same work (its id is sent along)."""
    MISMATCH = 4
    """create: the idempotency key already made a job from a different request (its id is sent along)."""
    OVER_QUOTA = 5
    """create: the owner already has as many live jobs (queued, retrying, running) as it may have."""
    RATE_LIMITED = 6
    """create: the caller submits faster than its rate allows (the seconds to wait are sent along)."""


def lua_constants() -> str:
    """`local REPLY_APPLIED = 1` ... for the head of every script."""
    return "".join(f"local REPLY_{reply.name} = {int(reply)}\n" for reply in Reply)
