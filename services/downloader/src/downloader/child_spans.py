"""The yt-dlp child's spans: one per stage of its work, one per yt-dlp postprocessor run.

Recorded with `jobcommon.span_records` under the `traceparent` of the spec, sent to the parent as
`SpanEvent` lines, exported by the parent into the job's trace. Every name starts with ``ytdlp `` and every
span carries ``mediajobs.process="ytdlp-child"`` (and the child's pid), so a trace view tells the child's
spans from the service's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from downloader.child_protocol import ChildEvent, ProgressEvent, SpanEvent, Stage, dump_event
from jobcommon import span_records
from jobcommon.span_records import RecordedSpan, SpanRecorder

if TYPE_CHECKING:
    from collections.abc import Callable

PROCESS = "ytdlp-child"
STAGE_SPANS: dict[Stage, str] = {
    "extracting": "ytdlp extract",
    "downloading": "ytdlp download",
    "postprocessing": "ytdlp postprocess",
}
POSTPROCESSOR_SPANS = {
    "Merger": "ytdlp merge",
    "MoveFiles": "ytdlp move into place",
    "VideoRemuxer": "ytdlp remux",
    "VideoConvertor": "ytdlp convert",
    "ExtractAudio": "ytdlp extract audio",
}


def child_recorder(traceparent: str | None, send: Callable[[bytes], None]) -> SpanRecorder:
    """The child's recorder: each span goes to the parent (one protocol line) as soon as it ends."""

    def sent(span: RecordedSpan) -> None:
        send(dump_event(SpanEvent(span=span.to_json())))

    return SpanRecorder(
        traceparent=traceparent,
        attributes={"mediajobs.process": PROCESS, "process.pid": os.getpid()},
        on_end=sent,
    )


class StageSpans:
    """Follows the stages the child announces (`ProgressEvent.stage`): the span of the current stage ends
    when the next begins."""

    def __init__(self, recorder: SpanRecorder) -> None:
        self._recorder = recorder
        self._stage: Stage | None = None
        self._span: RecordedSpan | None = None

    def seen(self, event: ChildEvent) -> None:
        if not isinstance(event, ProgressEvent) or event.stage == self._stage:
            return
        if self._span is not None:
            self._recorder.end(self._span)
        self._stage = event.stage
        self._span = self._recorder.begin(STAGE_SPANS[event.stage])


class PostprocessorSpans:
    """A span per postprocessor run, from yt-dlp's postprocessor hook (``started`` / ``finished``)."""

    def __init__(self) -> None:
        self._open: dict[str, RecordedSpan] = {}

    def hook(self, status: object, postprocessor: object) -> None:
        recorder = span_records.current()
        if recorder is None or not isinstance(postprocessor, str):
            return
        if status == "started":
            name = POSTPROCESSOR_SPANS.get(postprocessor, f"ytdlp postprocessor {postprocessor}")
            self._open[postprocessor] = recorder.begin(name, **{"ytdlp.postprocessor": postprocessor})
        elif status == "finished" and (span := self._open.pop(postprocessor, None)) is not None:
            recorder.end(span)
