"""The built-in queues and the service (consumer group) that consumes each.

Which job type goes to which queue is declared on the job type itself (`jobcommon.job_types`); a job type
from outside jobcommon may bring a queue of its own (any `QueueSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jobcommon import keys
from jobcommon.priorities import Priority


class Queue(StrEnum):
    """A named work queue: one Redis stream per priority (`jobcommon.priorities`), read by one service's
    consumer group."""

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
        """The stream of its `normal` lane (the queue's name in spans and health reports)."""
        return keys.stream(self.queue)

    def stream_of(self, priority: Priority) -> str:
        """The stream of one lane (`jobcommon.priorities`)."""
        return keys.stream(self.queue, priority)

    @property
    def lanes(self) -> dict[Priority, str]:
        """Every lane's stream, by priority, highest first: the consumer group reads all of them."""
        return {priority: keys.stream(self.queue, priority) for priority in Priority}


QUEUES: dict[Queue, QueueSpec] = {
    Queue.VIDEO_DOWNLOADS: QueueSpec(Queue.VIDEO_DOWNLOADS, group="downloader"),
    Queue.METADATA: QueueSpec(Queue.METADATA, group="metadata"),
    Queue.IMAGE_PROCESSING: QueueSpec(Queue.IMAGE_PROCESSING, group="imaging"),
    Queue.DEFAULT: QueueSpec(Queue.DEFAULT, group="janitor"),
}
