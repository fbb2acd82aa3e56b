"""jobcommon: the one shared library of mediajobs.

Job model and requests, Redis keys and queues, the job store, progress, cancel, the delivery middleware,
tracing, and the client. Services talk to each other only through what this package defines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        PlaylistDownloadRequest,
        VideoDownloadRequest,
    )
    from jobcommon.results import DownloadResult, EchoResult
    from jobcommon.service import JobService, WorkerSettings
    from jobcommon.settings import CommonSettings

# Exports load on first use: a process that needs one small module (e.g. the downloader's yt-dlp child,
# which only needs `jobcommon.netguard`) does not pay for FastStream, Redis and OpenTelemetry imports.
_EXPORTS: dict[str, str] = {
    "JOB_QUEUES": "jobcommon.queues",
    "JOB_REQUEST_ADAPTER": "jobcommon.requests",
    "QUEUES": "jobcommon.queues",
    "ClientError": "jobcommon.errors",
    "CommonSettings": "jobcommon.settings",
    "DownloadOptions": "jobcommon.requests",
    "DownloadResult": "jobcommon.results",
    "EchoRequest": "jobcommon.requests",
    "EchoResult": "jobcommon.results",
    "ErrorInfo": "jobcommon.models",
    "Job": "jobcommon.models",
    "JobCancelled": "jobcommon.errors",
    "JobClient": "jobcommon.client",
    "JobContext": "jobcommon.context",
    "JobCtx": "jobcommon.context",
    "JobError": "jobcommon.errors",
    "JobEvent": "jobcommon.models",
    "JobNotFound": "jobcommon.errors",
    "JobRequest": "jobcommon.requests",
    "PlaylistDownloadRequest": "jobcommon.requests",
    "JobService": "jobcommon.service",
    "JobStateConflict": "jobcommon.errors",
    "JobStatus": "jobcommon.models",
    "MediaJobsError": "jobcommon.errors",
    "PermanentError": "jobcommon.errors",
    "Progress": "jobcommon.models",
    "Queue": "jobcommon.queues",
    "QueueSpec": "jobcommon.queues",
    "QueueUnavailable": "jobcommon.errors",
    "Retry": "jobcommon.errors",
    "TransientError": "jobcommon.errors",
    "VideoDownloadRequest": "jobcommon.requests",
    "WorkerSettings": "jobcommon.service",
    "current_job": "jobcommon.context",
    "queue_for": "jobcommon.queues",
}

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
    "PlaylistDownloadRequest",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jobcommon' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
