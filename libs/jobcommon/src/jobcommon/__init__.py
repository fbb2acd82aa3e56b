"""jobcommon: the one shared library of mediajobs.

Job model and requests, job types and queues, the job store, progress, cancel, the delivery middleware,
tracing, and the client. Services talk to each other only through what this package defines.

The public API is the one list below: what job services and applications import. Names load on first use,
so a process that needs one small module does not pay for FastStream, Redis and OpenTelemetry imports; the
list is read once from this file's own source to know where each name lives.

Two kinds of modules are imported by their own names instead, on purpose:
- kits that run inside child processes and must stay light: `jobcommon.child_side`, `jobcommon.ytdlp`,
  `jobcommon.netguard`, `jobcommon.ffmpeg_inputs`, `jobcommon.sniff`, `jobcommon.mpeg_audio`,
  `jobcommon.span_records` (spans recorded there, exported by the parent);
- the machinery the gateway and the janitor operate (`jobcommon.store`, `job_index`, `search_tokens`,
  `change_feed`, `dead_letters`, `queue_stats`, `queue_samples`, `presence`, `upkeep`, `broker`, `tracing`,
  `job_spans`, `cancellation`): jobs' own code never needs them.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the public API: every name a service or application imports from `jobcommon`
    from jobcommon import keys as keys
    from jobcommon.admission import Admission as Admission
    from jobcommon.bulk import run_items as run_items
    from jobcommon.child_process import ChildFailed as ChildFailed
    from jobcommon.children import AwaitChildren as AwaitChildren
    from jobcommon.children import spawn_children as spawn_children
    from jobcommon.client import DeadLetter as DeadLetter
    from jobcommon.client import JobClient as JobClient
    from jobcommon.context import JobContext as JobContext
    from jobcommon.context import JobCtx as JobCtx
    from jobcommon.context import current_job as current_job
    from jobcommon.errors import ClientError as ClientError
    from jobcommon.errors import ConfigurationError as ConfigurationError
    from jobcommon.errors import Deferred as Deferred
    from jobcommon.errors import JobCancelled as JobCancelled
    from jobcommon.errors import JobError as JobError
    from jobcommon.errors import JobNotFound as JobNotFound
    from jobcommon.errors import JobStateConflict as JobStateConflict
    from jobcommon.errors import MediaJobsError as MediaJobsError
    from jobcommon.errors import PermanentError as PermanentError
    from jobcommon.errors import QueueUnavailable as QueueUnavailable
    from jobcommon.errors import Retry as Retry
    from jobcommon.errors import TransientError as TransientError
    from jobcommon.host_limits import HostLimits as HostLimits
    from jobcommon.items import BulkSummary as BulkSummary
    from jobcommon.items import ItemError as ItemError
    from jobcommon.items import ItemRecord as ItemRecord
    from jobcommon.job_types import JOB_TYPES as JOB_TYPES
    from jobcommon.job_types import JobType as JobType
    from jobcommon.job_types import job_type as job_type
    from jobcommon.logs import configure_logging as configure_logging
    from jobcommon.models import AttemptRecord as AttemptRecord
    from jobcommon.models import ErrorInfo as ErrorInfo
    from jobcommon.models import Job as Job
    from jobcommon.models import JobEvent as JobEvent
    from jobcommon.models import JobStatus as JobStatus
    from jobcommon.models import Progress as Progress
    from jobcommon.models import utcnow as utcnow
    from jobcommon.policies import JobPolicy as JobPolicy
    from jobcommon.priorities import Priority as Priority
    from jobcommon.provide import provide as provide
    from jobcommon.provide import provided as provided
    from jobcommon.queues import QUEUES as QUEUES
    from jobcommon.queues import Queue as Queue
    from jobcommon.queues import QueueSpec as QueueSpec
    from jobcommon.requests import DownloadOptions as DownloadOptions
    from jobcommon.requests import EchoRequest as EchoRequest
    from jobcommon.requests import ImageOptimizeRequest as ImageOptimizeRequest
    from jobcommon.requests import ImageResizeRequest as ImageResizeRequest
    from jobcommon.requests import JobRequestBase as JobRequestBase
    from jobcommon.requests import MetadataEnrichRequest as MetadataEnrichRequest
    from jobcommon.requests import MusicLookupRequest as MusicLookupRequest
    from jobcommon.requests import PlaylistDownloadRequest as PlaylistDownloadRequest
    from jobcommon.requests import ResizeSpec as ResizeSpec
    from jobcommon.requests import StoryboardRequest as StoryboardRequest
    from jobcommon.requests import ThumbnailRequest as ThumbnailRequest
    from jobcommon.requests import VideoDownloadRequest as VideoDownloadRequest
    from jobcommon.requests import VideoInfoRequest as VideoInfoRequest
    from jobcommon.results import DownloadedFile as DownloadedFile
    from jobcommon.results import DownloadResult as DownloadResult
    from jobcommon.results import EchoResult as EchoResult
    from jobcommon.results import ExtraFile as ExtraFile
    from jobcommon.results import ExtraKind as ExtraKind
    from jobcommon.service import JobService as JobService
    from jobcommon.service import WorkerSettings as WorkerSettings
    from jobcommon.settings import CommonSettings as CommonSettings
    from jobcommon.settings import NetworkGuardSettings as NetworkGuardSettings
    from jobcommon.sources import resolve_source as resolve_source
    from jobcommon.sources import source_job as source_job


def _public_names() -> dict[str, tuple[str, str | None]]:
    """name -> (module, attribute or None for a module), read from the `if TYPE_CHECKING:` block above."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    found: dict[str, tuple[str, str | None]] = {}
    for statement in block.body:
        assert isinstance(statement, ast.ImportFrom)
        assert statement.module is not None
        for alias in statement.names:
            if statement.module == __name__:  # a submodule: `from jobcommon import keys as keys`
                found[alias.asname or alias.name] = (f"{__name__}.{alias.name}", None)
            else:
                found[alias.asname or alias.name] = (statement.module, alias.name)
    return found


_PUBLIC: dict[str, tuple[str, str | None]] = {}


def __getattr__(name: str) -> Any:
    if not _PUBLIC:
        _PUBLIC.update(_public_names())
    if name == "__all__":
        return sorted(_PUBLIC)
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    imported = importlib.import_module(module)
    value = imported if attribute is None else getattr(imported, attribute)
    globals()[name] = value
    return value
