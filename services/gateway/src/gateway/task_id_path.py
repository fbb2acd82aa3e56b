"""The `{task_id:task_id}` path parameter: any one path segment but the names other routers serve under /jobs.

The /jobs/{task_id}/... routes are tried first (they are most of the traffic, and FastAPI tries routes in
order); this convertor keeps them from shadowing /jobs/dead/... and /jobs/schedules/..., which the dead-letter
and schedule routers answer.
"""

from __future__ import annotations

from typing import ClassVar

from starlette.convertors import Convertor, register_url_convertor

RESERVED = ("dead", "schedules")
"""First segments under /jobs that belong to other routers."""


class TaskIdConvertor(Convertor[str]):
    regex: ClassVar[str] = r"(?!(?:" + "|".join(RESERVED) + r")(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("task_id", TaskIdConvertor())

TASK_ID = "{task_id:task_id}"
"""The parameter as written in a route's path: `f"/{TASK_ID}/status"`."""
