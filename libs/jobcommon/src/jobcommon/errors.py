"""The one exception tree of mediajobs.

Two branches: `JobError` is raised *by handlers* and carries intent (what should happen to the job);
`ClientError` is raised *to callers* of the job API (the gateway maps each to an HTTP status).
"""

from __future__ import annotations

import math

from redis.exceptions import ConnectionError as RedisConnectionError


class MediaJobsError(Exception):
    """Base of every exception mediajobs raises on purpose."""


class ConfigurationError(MediaJobsError):
    """mediajobs is set up wrongly (e.g. a job type declared twice or without a `job_type` literal): a
    programming or deployment error, raised when the process starts, never because of a client's input."""


class JobError(MediaJobsError):
    """Raised by a handler to end its job; the subclass says what happens next."""

    def __init__(self, message: str, *, error_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type or type(self).__name__


class PermanentError(JobError):
    """The job cannot succeed as submitted (bad input, unsupported URL, HTTP 4xx): fail it, never retry."""


class TransientError(JobError):
    """The job may succeed later (network trouble, HTTP 5xx/429, timeouts): eligible for retry."""


class Retry(JobError):
    """The handler asks explicitly to run the job again after `delay` seconds."""

    def __init__(self, message: str = "retry requested", *, delay: float = 0.0) -> None:
        super().__init__(message)
        self.delay = delay


class Deferred(JobError):
    """The job must wait for its turn (a rate limit shared across replicas) before it can do its work: it
    goes back to wait `delay` seconds as `scheduled`, without holding a worker slot; the run that raised this
    did no work, so it does not count as an attempt and never fails the job."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class JobCancelled(JobError):
    """The job was cancelled on request; its partial output is removed."""


class TimeLimitExceeded(TransientError):
    """The run passed its soft time limit and was stopped; retried while attempts remain."""


class HardTimeLimitExceeded(PermanentError):
    """The run ignored its soft time limit and was still running at the hard one: the job fails, and the
    service restarts so the runaway work is killed rather than abandoned."""


class ClientError(MediaJobsError):
    """Base of the errors the job API reports to its callers."""


class JobNotFound(ClientError):
    """No job has this task id (never existed, or its record expired)."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no job with task id {task_id!r} (unknown or expired)")
        self.task_id = task_id


class ScheduleNotFound(ClientError):
    """No periodic schedule has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r}")
        self.name = name


class JobStateConflict(ClientError):
    """The request does not fit the job's current status (e.g. cancelling a finished job)."""

    def __init__(self, task_id: str, status: str, message: str) -> None:
        super().__init__(message)
        self.task_id = task_id
        self.status = status


class ScheduleConflict(ClientError):
    """The request does not fit the schedule (its name is taken, or it is defined in SCHEDULES_FILE) (409)."""


class Unauthenticated(ClientError):
    """The request carries no valid API key (401)."""


class Forbidden(ClientError):
    """The API key is valid but its role does not allow this action (403)."""


class RateLimited(ClientError):
    """Too many submissions for this key, or too many of its owner's jobs unfinished (429)."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def retry_after_whole_s(self) -> int:
        """The wait in whole seconds (`whole_seconds`): what a `Retry-After` header says."""
        return whole_seconds(self.retry_after_s)


class TooManySubmissions(RateLimited):
    """This key submits faster than its rate allows (429). `retry_after_s` is exact: no submission of the key
    can be admitted sooner (others only push it later), so a gateway may refuse the key's next ones itself."""

    def __init__(self, retry_after_s: float) -> None:
        message = f"too many submissions; try again in {whole_seconds(retry_after_s)} s"
        super().__init__(message, retry_after_s=retry_after_s)


class IdempotencyKeyReused(ClientError):
    """An Idempotency-Key already made a job from a different request: a client bug, never replayed."""

    def __init__(self, key: str, task_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for another request (job {task_id}); use a new key"
        )
        self.task_id = task_id


class QueueUnavailable(ClientError):
    """The job could not be submitted (Redis unreachable or refusing writes); nothing of it was written."""


class ConnectionsBusy(ClientError, RedisConnectionError):
    """Every pooled connection to Redis stayed in use for as long as a caller may wait for one (a burst of
    requests, not an outage: Redis itself may answer well). A redis `ConnectionError` too, so code that
    handles a failed command handles this; the gateway answers it with a 503 of its own (busy, try again),
    never "the job store is unavailable"."""

    def __init__(self, waited_s: float) -> None:
        super().__init__(f"every connection to Redis stayed in use for {waited_s:g} s")
        self.waited_s = waited_s


def whole_seconds(wait_s: float) -> int:
    """A wait as a `Retry-After` header and its message say it: the next whole second after it (at least 1;
    5.0 s is 6), so that a client that waits this long is past the wait even though it was measured before
    the answer travelled."""
    return max(1, math.floor(wait_s) + 1)
