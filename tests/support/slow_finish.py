"""Run a service whose successful job endings are written late: `python -m tests.support.slow_finish janitor`.

A test hook for ordering races (not part of any service): it delays `JobStore.finish(..., SUCCEEDED)` by
`SLOW_FINISH_S` seconds (default 2), i.e. the parent's final write, while everything the run did before that
(its follow-ups included) is already in Redis. Anything that becomes runnable before the parent's success is
recorded then runs inside that window, deterministically.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
from typing import Any

from jobcommon.models import JobStatus
from jobcommon.store import JobStore, Transition

_finish = JobStore.finish


async def _late_finish(self: JobStore, task_id: str, to: JobStatus, **kwargs: Any) -> Transition:
    if to == JobStatus.SUCCEEDED:
        await asyncio.sleep(float(os.environ.get("SLOW_FINISH_S", "2")))
    return await _finish(self, task_id, to, **kwargs)


def main() -> None:
    JobStore.finish = _late_finish  # type: ignore[method-assign]
    service = sys.argv.pop(1)
    runpy.run_module(service, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
