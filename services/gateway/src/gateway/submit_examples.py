"""Examples of POST /jobs/submit's body for the API docs: one valid, minimal request per job type, each named
after its job type with a one-line summary (the "Examples" list of /docs' "Try it out", /redoc's request
samples) instead of the samples the docs would make up from the schema (both `run_at` and `delay_s`, every
bound at its extreme, which the API refuses).

Read off the job-type registry: a built-in job type's example is written here (`BUILT_IN`), a plugin declares
its own on its request model (OpenAPI's `examples`, e.g. ``model_config = ConfigDict(json_schema_extra=
{"examples": [{"job_type": "transcode", "source": "clips/a.mp4"}]})``). Each is validated as a submission
would be; one that does not validate, or names another job type, is left out with a warning, and a job type
without any gets none: no example is better than a wrong one. Only public fields appear (none of echo's
test hooks, which a deployment refuses unless MEDIAJOBS_TEST_HOOKS is set).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from jobcommon.job_types import JobType, JobTypes
from jobcommon.requests.echo import TEST_HOOKS

log = logging.getLogger("mediajobs.gateway")

HIDDEN_FIELDS = frozenset({*TEST_HOOKS, "fail_kind"})
"""Fields no public example may show: echo's test hooks (and `fail_kind`, which only says how they fail)."""


@dataclass(frozen=True, slots=True)
class Example:
    summary: str
    value: dict[str, Any]


BUILT_IN: dict[str, Example] = {
    example.value["job_type"]: example
    for example in (
        Example(
            "Download a video from a URL",
            {"job_type": "video_download", "url": "https://example.com/videos/launch.mp4"},
        ),
        Example(
            "Download a playlist (its first 10 entries)",
            {"job_type": "playlist_download", "url": "https://example.com/channel/feed.rss", "limit": 10},
        ),
        Example(
            "A video's metadata, without downloading it",
            {"job_type": "video_info", "url": "https://example.com/videos/launch.mp4"},
        ),
        Example(
            "Metadata of several items (URLs, MEDIA_ROOT paths, finished jobs' task ids)",
            {
                "job_type": "metadata_enrich",
                "items": ["https://example.com/videos/launch.mp4", "library/interview.mp4"],
            },
        ),
        Example(
            "Find a song's recording on MusicBrainz",
            {"job_type": "music_lookup", "artist": "The Beatles", "title": "Let It Be"},
        ),
        Example(
            "A thumbnail of a video in MEDIA_ROOT",
            {"job_type": "thumbnail", "sources": ["library/interview.mp4"]},
        ),
        Example(
            "An image resized to 640×360",
            {
                "job_type": "image_resize",
                "sources": ["photos/cover.jpg"],
                "specs": [{"width": 640, "height": 360}],
            },
        ),
        Example(
            "Images re-encoded smaller",
            {"job_type": "image_optimize", "sources": ["photos/cover.jpg", "photos/back.png"]},
        ),
        Example(
            "A storyboard (sprite sheet and WebVTT) of a video",
            {"job_type": "storyboard", "sources": ["library/interview.mp4"]},
        ),
        Example("Echo a payload (a canary job)", {"job_type": "echo", "payload": {"hello": "world"}}),
    )
}
"""The built-in job types' examples (job types of plugins declare theirs on their models)."""


def submit_examples(registry: JobTypes) -> dict[str, dict[str, Any]]:
    """Every job type's valid examples as OpenAPI Example Objects, named after the job type (`shout`, a second
    one `shout_2`): the built-ins first, in `BUILT_IN`'s order, then the plugins' by name."""
    order = {name: index for index, name in enumerate(BUILT_IN)}
    declared = sorted(registry.all(), key=lambda t: (order.get(t.name, len(order)), t.name))
    examples: dict[str, dict[str, Any]] = {}
    for job_type in declared:
        valid = [example for example in _candidates(job_type) if _is_valid(registry, job_type.name, example)]
        for number, example in enumerate(valid, start=1):
            name = job_type.name if number == 1 else f"{job_type.name}_{number}"
            examples[name] = {"summary": example.summary, "value": example.value}
    return examples


def openapi_extra(registry: JobTypes) -> dict[str, Any]:
    """The submit operation's addition to the OpenAPI document (FastAPI's `openapi_extra`)."""
    return {"requestBody": {"content": {"application/json": {"examples": submit_examples(registry)}}}}


def _candidates(job_type: JobType) -> list[Example]:
    if job_type.name in BUILT_IN:
        return [BUILT_IN[job_type.name]]
    declared = job_type.request.model_json_schema().get("examples")
    if not isinstance(declared, list):
        return []
    summary = _first_line(job_type.request.__doc__) or f"A {job_type.name} job"
    return [Example(summary, value) for value in declared if isinstance(value, dict)]


def _is_valid(registry: JobTypes, name: str, example: Example) -> bool:
    hidden = HIDDEN_FIELDS & example.value.keys()
    try:
        parsed = registry.parse(example.value)
    except ValidationError as exc:
        problem = f"it is refused: {exc.errors()[0]['msg']}"
    else:
        if parsed.job_type != name:
            problem = f"it is a {parsed.job_type} job"
        elif hidden:
            problem = f"it shows test hooks ({', '.join(sorted(hidden))})"
        else:
            return True
    log.warning("the API docs leave out an example of job type %s: %s", name, problem)
    return False


def _first_line(text: str | None) -> str:
    paragraph = (text or "").strip().split("\n\n", 1)[0]
    sentence = " ".join(paragraph.split()).split(". ", 1)[0]
    return sentence.removesuffix(".")
