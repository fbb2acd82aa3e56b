"""The job-type registry: a job type is declared once, on its request model, and everything else reads it.

    @job_type(queue=QUEUES[Queue.METADATA], policy=JobPolicy(max_attempts=3, ...))
    class VideoInfoRequest(JobRequestBase):
        job_type: Literal["video_info"] = "video_info"
        url: str

The decorator registers the model with its queue (and so the service whose consumer group reads it) and its
retry and time-limit policy. Submission routes by it, the middleware applies its policy, the gateway and the
client validate against the union of every registered model, the API docs show it, and the janitor and the
health endpoint watch its queue.

Job types from outside jobcommon: a package declares its models the same way in a module and names that
module in the entry-point group ``mediajobs.job_types`` (``[project.entry-points."mediajobs.job_types"]``
``transcode = "mytranscoder.requests"``), or a deployment lists modules in ``MEDIAJOBS_JOB_TYPES``
(comma-separated). Every mediajobs process imports them the first time it needs the registry, so the gateway
accepts the new type, the janitor looks after its queue, and its own service (a `JobService` on its queue)
runs it, without a line changed in jobcommon.
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, cast, get_args

from pydantic import Field, TypeAdapter

from jobcommon.errors import ConfigurationError
from jobcommon.priorities import Priority

if TYPE_CHECKING:
    from jobcommon.policies import JobPolicy
    from jobcommon.queues import QueueSpec
    from jobcommon.requests.base import JobRequestBase

ENTRY_POINT_GROUP = "mediajobs.job_types"
MODULES_ENV = "MEDIAJOBS_JOB_TYPES"
BUILT_IN = "jobcommon.requests"
"""The package whose import registers the built-in job types."""

R = TypeVar("R", bound="type[JobRequestBase]")


@dataclass(frozen=True, slots=True)
class JobType:
    """One job type: its name (the `job_type` value), request model, queue, policy and default priority."""

    name: str
    request: type[JobRequestBase]
    queue: QueueSpec
    policy: JobPolicy
    priority: Priority = Priority.NORMAL
    """The lane its jobs take unless a request names one (`jobcommon.priorities`)."""


class JobTypes:
    """Every known job type. Built-ins and plugins are loaded on first use (see the module doc)."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}
        self._adapter: TypeAdapter[Any] | None = None
        self._loaded = False
        self._lock = threading.RLock()

    def register(
        self,
        request: type[JobRequestBase],
        queue: QueueSpec,
        policy: JobPolicy,
        priority: Priority = Priority.NORMAL,
    ) -> JobType:
        """Add a job type; its name is the default of the model's `job_type` field."""
        field = request.model_fields.get("job_type")
        name = field.default if field is not None else None
        if not isinstance(name, str) or get_args(field.annotation if field else None) != (name,):
            raise ConfigurationError(
                f'{request.__qualname__} needs a field `job_type: Literal["<name>"] = "<name>"`'
            )
        with self._lock:
            known = self._types.get(name)
            if known is not None and known.request is not request:
                twice = f"{known.request.__qualname__} and {request.__qualname__}"
                raise ConfigurationError(f"job type {name!r} is declared twice ({twice})")
            declared = JobType(name, request, queue, policy, priority)
            self._types[name] = declared
            self._adapter = None
        return declared

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self._loaded = True  # set first: the imports below register through this same registry
            importlib.import_module(BUILT_IN)
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                entry.load()
            for module in filter(None, (m.strip() for m in os.environ.get(MODULES_ENV, "").split(","))):
                importlib.import_module(module)

    def get(self, name: str) -> JobType:
        """The job type called `name`; KeyError if there is none."""
        self._ensure_loaded()
        return self._types[name]

    def of(self, request: JobRequestBase) -> JobType:
        return self.get(request.job_type)

    def priority_of(self, request: JobRequestBase) -> Priority:
        """The request's `priority`, or its job type's default."""
        return request.priority or self.of(request).priority

    def stream_of(self, request: JobRequestBase) -> str:
        """The stream (its queue's lane for its priority) a request's message goes to."""
        return self.of(request).queue.stream_of(self.priority_of(request))

    def all(self) -> list[JobType]:
        self._ensure_loaded()
        return sorted(self._types.values(), key=lambda t: t.name)

    def names(self) -> list[str]:
        return [t.name for t in self.all()]

    def queues(self) -> list[QueueSpec]:
        """Every queue some job type is routed to (plus the built-in ones), each once."""
        from jobcommon.queues import QUEUES

        found = {spec.queue: spec for spec in QUEUES.values()}
        for declared in self.all():
            found.setdefault(declared.queue.queue, declared.queue)
        return list(found.values())

    def request_union(self) -> Any:
        """Every request model as one discriminated union (`job_type` selects the model), e.g. for a
        FastAPI body; a single model when only one is known."""
        models = tuple(t.request for t in self.all())
        if len(models) == 1:
            return models[0]
        return Annotated[Union[models], Field(discriminator="job_type")]  # noqa: UP007

    def adapter(self) -> TypeAdapter[Any]:
        """Validates a request of any known job type (pydantic.ValidationError names the bad field)."""
        self._ensure_loaded()
        with self._lock:
            if self._adapter is None:
                self._adapter = TypeAdapter(self.request_union())
            return self._adapter

    def parse(self, data: Any) -> JobRequestBase:
        """A request (dict or JSON-ready data) validated into its job type's model."""
        return cast("JobRequestBase", self.adapter().validate_python(data))


JOB_TYPES = JobTypes()


def job_type(*, queue: QueueSpec, policy: JobPolicy, priority: Priority = Priority.NORMAL) -> Any:
    """Class decorator declaring a request model as a job type on `queue` with `policy` and a default
    `priority` (see module doc)."""

    def declare(request: R) -> R:
        JOB_TYPES.register(request, queue, policy, priority)
        return request

    return declare
