"""The queues, the service (consumer group) that consumes each, and which job type goes to which queue."""

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

    queue: Queue
    group: str

    @property
    def stream(self) -> str:
        return keys.stream(self.queue)


QUEUES: dict[Queue, QueueSpec] = {
    Queue.VIDEO_DOWNLOADS: QueueSpec(Queue.VIDEO_DOWNLOADS, group="downloader"),
    Queue.METADATA: QueueSpec(Queue.METADATA, group="metadata"),
    Queue.IMAGE_PROCESSING: QueueSpec(Queue.IMAGE_PROCESSING, group="imaging"),
    Queue.DEFAULT: QueueSpec(Queue.DEFAULT, group="janitor"),
}

JOB_QUEUES: dict[str, Queue] = {
    "video_download": Queue.VIDEO_DOWNLOADS,
    "playlist_download": Queue.VIDEO_DOWNLOADS,
    "video_info": Queue.METADATA,
    "metadata_enrich": Queue.METADATA,
    "thumbnail": Queue.IMAGE_PROCESSING,
    "image_resize": Queue.IMAGE_PROCESSING,
    "image_optimize": Queue.IMAGE_PROCESSING,
    "storyboard": Queue.IMAGE_PROCESSING,
    "echo": Queue.DEFAULT,
}
"""The one routing table: job type -> queue."""


def queue_for(job_type: str) -> QueueSpec:
    """The queue a job type is routed to."""
    return QUEUES[JOB_QUEUES[job_type]]
