"""The built-in queues and the service (consumer group) that consumes each.

Which job type goes to which queue is declared on the job type itself (`jobcommon.job_types`); a job type
from outside jobcommon may bring a queue of its own (any `QueueSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jobcommon import keys


class Queue(StrEnum):
    """A named work queue; each is one Redis stream consumed by one service's consumer group."""

    VIDEO_DOWNLOADS = "video_downloads"
    METADATA = "metadata"
    IMAGE_PROCESSING = "image_processing"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """Where a queue's messages live and who consumes them."""

    queue: str
    """The queue's name (a built-in `Queue`, or any name a plugin's job types use)."""
    group: str
    """The consumer group, named after the service that consumes the queue."""

    @property
    def stream(self) -> str:
        return keys.stream(self.queue)


QUEUES: dict[Queue, QueueSpec] = {
    Queue.VIDEO_DOWNLOADS: QueueSpec(Queue.VIDEO_DOWNLOADS, group="downloader"),
    Queue.METADATA: QueueSpec(Queue.METADATA, group="metadata"),
    Queue.IMAGE_PROCESSING: QueueSpec(Queue.IMAGE_PROCESSING, group="imaging"),
    Queue.DEFAULT: QueueSpec(Queue.DEFAULT, group="janitor"),
}
