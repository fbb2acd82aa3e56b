"""`--set key=value` options: values are JSON when they parse, else strings; dotted keys nest. With `--url`
and the job type they make a job's request (`submit`, `schedules add`). `NaN` and `Infinity` are not JSON
(Python's reader takes them): they stay strings; a number too large for a float (`1e999`) is refused."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Annotated, Any

import typer


class Priority(StrEnum):
    """A job's lane on its queue (the API's `priority`)."""

    high = "high"
    normal = "normal"
    low = "low"


PriorityOption = Annotated[
    Priority | None,
    typer.Option(
        "--priority", help="high, normal or low (default: the job type's): high goes first, none starves."
    ),
]


class AssignmentError(ValueError):
    pass


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise AssignmentError(f"{text} is out of a number's range")
    return value


def parse_value(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except AssignmentError:
        raise
    except ValueError:  # json.JSONDecodeError included
        return text


def apply(target: dict[str, Any], assignment: str) -> None:
    """Set `a.b.c=value` in `target`, creating the objects on the way."""
    key, sep, raw = assignment.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise AssignmentError(f"expected key=value (dotted keys nest), got {assignment!r}")
    node = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise AssignmentError(f"{key}: {part!r} is already set to a non-object value")
        node = child
    try:
        node[parts[-1]] = parse_value(raw)
    except AssignmentError as exc:
        raise AssignmentError(f"{key}: {exc}") from None


def build(assignments: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for assignment in assignments:
        apply(body, assignment)
    return body


def job_request(
    job_type: str, url: str | None, assignments: list[str] | None, priority: Priority | None = None
) -> dict[str, Any]:
    """A job's request from the command line: its type, `--url`, `--priority` and the `--set` assignments (a
    bad one is a usage error naming the option)."""
    try:
        body = build(assignments or [])
    except AssignmentError as exc:
        raise typer.BadParameter(str(exc), param_hint="--set") from exc
    body["job_type"] = job_type
    if url is not None:
        body["url"] = url
    if priority is not None:
        body["priority"] = priority.value
    return body
