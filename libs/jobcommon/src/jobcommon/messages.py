"""A job's message, as it sits on a queue's stream: one field in FastStream's binary wire format (what the
services' FastStream subscribers read), carrying the request as JSON, the task id as correlation id, the
job type (for the handler filters) and the creation span's context.

Built here rather than by `RedisBroker.publish` so that the script that records a job also adds its message:
a job's record and message are written in one atomic step and one round trip (a submission never leaves a
record without a message, or a message without a record).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from faststream.redis.message import DATA_KEY
from faststream.redis.parser.binary import BinaryMessageFormatV1

from jobcommon import job_spans

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from jobcommon.requests import AnyJobRequest

JOB_TYPE_HEADER = "x-job-type"
"""The header a service's handlers are chosen by (one handler per job type on a queue's subscriber)."""

DATA_FIELD = DATA_KEY
"""The one field of a stream entry that holds the message."""


@dataclass(frozen=True, slots=True)
class JobMessage:
    """A message ready to be added to `stream` (as the entry `{DATA_FIELD: payload}`)."""

    stream: str
    payload: bytes


async def job_message(
    request: AnyJobRequest, task_id: str, stream: str, span: Span | None = None
) -> JobMessage:
    """The message of job `task_id`, to go onto `stream`; it carries `span`'s context (default: the current
    span's) so every attempt of the job joins the trace it was created in."""
    payload = await BinaryMessageFormatV1.encode(
        message=request.compact(),
        reply_to=None,
        headers={JOB_TYPE_HEADER: request.job_type, **job_spans.carrier(span)},
        correlation_id=task_id,
    )
    return JobMessage(stream, payload)
