"""jobcommon: the one shared library of mediajobs.

Job model and requests, Redis keys and queues, the job store, progress, cancel, the delivery middleware,
tracing, and the client. Services talk to each other only through what this package defines.
"""

from jobcommon.client import JobClient
from jobcommon.context import JobContext, JobCtx, current_job
from jobcommon.errors import (
    ClientError,
    JobCancelled,
    JobError,
    JobNotFound,
    JobStateConflict,
    MediaJobsError,
    PermanentError,
    QueueUnavailable,
    Retry,
    TransientError,
)
from jobcommon.models import ErrorInfo, Job, JobEvent, JobStatus, Progress
from jobcommon.queues import JOB_QUEUES, QUEUES, Queue, QueueSpec, queue_for
from jobcommon.requests import (
    JOB_REQUEST_ADAPTER,
    DownloadOptions,
    EchoRequest,
    JobRequest,
    VideoDownloadRequest,
)
from jobcommon.results import DownloadResult, EchoResult
from jobcommon.service import JobService, WorkerSettings
from jobcommon.settings import CommonSettings

__all__ = [
    "JOB_QUEUES",
    "JOB_REQUEST_ADAPTER",
    "QUEUES",
    "ClientError",
    "CommonSettings",
    "DownloadOptions",
    "DownloadResult",
    "EchoRequest",
    "EchoResult",
    "ErrorInfo",
    "Job",
    "JobCancelled",
    "JobClient",
    "JobContext",
    "JobCtx",
    "JobError",
    "JobEvent",
    "JobNotFound",
    "JobRequest",
    "JobService",
    "JobStateConflict",
    "JobStatus",
    "MediaJobsError",
    "PermanentError",
    "Progress",
    "Queue",
    "QueueSpec",
    "QueueUnavailable",
    "Retry",
    "TransientError",
    "VideoDownloadRequest",
    "WorkerSettings",
    "current_job",
    "queue_for",
]
