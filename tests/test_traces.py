"""Traces across real processes, read back from the in-test OTLP receiver: one trace per job (and per
pipeline), a `create <job_type>` PRODUCER span per job made, a `process <queue>` CONSUMER span per attempt,
the attempt's story as events, phase spans inside attempts (the yt-dlp child's and the CPU pool's included),
`trace_url` with TRACING_UI_URL, and the standard OTEL_* switches."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobcommon import trace_links
from tests.cluster import Cluster
from tests.conftest import ApiKeys, bearer, private_cluster, wait_until_ready
from tests.jobs import sse_events, submit, wait_for, wait_terminal
from tests.support.httpserver import MediaServer
from tests.support.otlp import OtlpReceiver, Span
from tools.localredis import free_port

SERVER, PRODUCER, CONSUMER = 2, 4, 5
ERROR = 2
TRACES_DB = 3
SWITCHES_DB = 4
PHOENIX = "http://127.0.0.1:6006/projects/UHJvamVjdDox/traces/{trace_id}"


async def trace_of(
    otlp: OtlpReceiver, trace_id: str, until: Callable[[list[Span]], bool], timeout: float = 20.0
) -> list[Span]:
    """The spans received for `trace_id`, once `until` holds for them."""
    deadline = time.monotonic() + timeout
    while True:
        spans = [s for s in otlp.spans if s.trace_id == trace_id]
        if until(spans):
            return spans
        if time.monotonic() > deadline:
            summary = "\n".join(
                f"  [{s.service_name}] {s.name} kind={s.kind} span={s.span_id} parent={s.parent_span_id}"
                for s in spans
            )
            raise AssertionError(f"trace {trace_id} incomplete after {timeout:g} s:\n{summary}")
        await asyncio.sleep(0.1)


def named(spans: list[Span], name: str) -> list[Span]:
    return [s for s in spans if s.name == name]


def by_id(spans: list[Span]) -> dict[str, Span]:
    return {s.span_id: s for s in spans}


def _attempt(span: Span) -> int:
    return int(str(span.attributes["mediajobs.job.attempt"]))


def flaky(fail_attempts: int) -> dict[str, Any]:
    return {
        "job_type": "echo",
        "fail_with": "flaky",
        "fail_kind": "transient",
        "fail_attempts": fail_attempts,
        "retry": {"max_attempts": 3, "backoff_base_s": 0.05, "backoff_cap_s": 0.1},
    }


@pytest.fixture(scope="module")
async def traced(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver, api_keys: ApiKeys
) -> AsyncIterator[tuple[Cluster, httpx.AsyncClient]]:
    """A private gateway (TRACING_UI_URL in Phoenix's form) and janitor (the echo jobs) on their own db."""
    folder = tmp_path_factory.mktemp("traced")
    async with private_cluster(redis_url, TRACES_DB, folder / "media", otlp) as cluster:
        port = free_port()
        keys = str(api_keys.file(folder))
        cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=keys, TRACING_UI_URL=PHOENIX)
        cluster.start("janitor", CONCURRENCY="4", PROGRESS_INTERVAL_S="0.05")
        api_url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_until_ready, api_url, {"janitor"}, api_keys.admin)
        async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=bearer(api_keys.admin)) as api:
            yield cluster, api


async def test_retries_are_process_spans_of_one_trace(
    traced: tuple[Cluster, httpx.AsyncClient], otlp: OtlpReceiver
) -> None:
    """A job failing twice then succeeding: the gateway's HTTP span holds one `create echo` PRODUCER span,
    the parent of three `process default` CONSUMER spans (one per attempt); the failed two have ERROR
    status, `error.type`, an exception event and a `retry scheduled` event with its delay."""
    cluster, api = traced
    job = await submit(api, flaky(fail_attempts=2))
    final = await wait_terminal(api, job["task_id"], timeout=30)
    assert (final["status"], final["attempts"]) == ("succeeded", 3), cluster.logs()[-3000:]
    trace_id = job["trace_id"]
    assert final["trace_id"] == trace_id
    spans = await trace_of(otlp, trace_id, lambda ss: len(named(ss, "process default")) == 3)
    (create,) = named(spans, "create echo")
    assert create.kind == PRODUCER
    assert create.service_name == "gateway"
    assert create.attributes["service.name"] == "gateway"
    assert create.attributes["messaging.system"] == "redis"
    assert create.attributes["messaging.operation.type"] == "send"
    assert create.attributes["messaging.destination.name"] == "mj:queue:default"
    assert create.attributes["messaging.message.conversation_id"] == job["task_id"]
    assert create.attributes["mediajobs.job.id"] == job["task_id"]
    assert create.attributes["mediajobs.job.owner"] == "tests"
    http = by_id(spans)[create.parent_span_id or ""]
    assert http.kind == SERVER
    assert http.name == "POST /jobs/submit"
    assert http.attributes["http.route"] == "/jobs/submit"
    gateway_spans = sorted(s.span_id for s in spans if s.service_name == "gateway")
    assert gateway_spans == sorted([http.span_id, create.span_id])  # the request's one span, and the job's
    attempts = sorted(named(spans, "process default"), key=_attempt)
    assert [s.attributes["mediajobs.job.attempt"] for s in attempts] == [1, 2, 3]
    ids = {s.attributes["messaging.message.id"] for s in attempts}  # a retry is a new stream entry
    assert len(ids) == 3
    assert all(isinstance(i, str) and "-" in i for i in ids)
    for span in attempts:
        assert span.kind == CONSUMER
        assert span.parent_span_id == create.span_id
        assert span.service_name == "janitor"
        assert span.attributes["service.name"] == "janitor"
        assert span.attributes["messaging.operation.type"] == "process"
        assert span.attributes["messaging.consumer.group.name"] == "janitor"
        assert span.attributes["messaging.destination.name"] == "mj:queue:default"
        assert span.attributes["messaging.message.conversation_id"] == job["task_id"]
        assert span.attributes["mediajobs.job.type"] == "echo"
        assert span.attributes["mediajobs.job.queue"] == "default"
    for span in attempts[:2]:
        assert span.status_code == ERROR
        assert span.attributes["error.type"] == "EchoFlaky"
        exception = span.event("exception")
        assert exception is not None
        assert exception.attributes["exception.type"] == "EchoFlaky"
        assert "TransientError" in str(exception.attributes["exception.stacktrace"])
        retry = span.event("retry scheduled")
        assert retry is not None
        assert 0 < float(str(retry.attributes["mediajobs.retry.delay_s"])) <= 0.1
    assert attempts[2].status_code != ERROR
    assert "error.type" not in attempts[2].attributes
    assert attempts[0].start_ns < attempts[1].start_ns < attempts[2].start_ns


async def test_dead_letter_and_permanent_failure_are_marked(
    traced: tuple[Cluster, httpx.AsyncClient], otlp: OtlpReceiver
) -> None:
    """Out of attempts: the last attempt's span says `dead-lettered`; a permanent failure is one ERROR
    span with its classified type and no retry."""
    _, api = traced
    dead = await submit(api, {**flaky(fail_attempts=9), "retry": {"max_attempts": 2, "backoff_base_s": 0.05}})
    permanent = await submit(api, {"job_type": "echo", "fail_with": "no", "fail_kind": "permanent"})
    assert (await wait_terminal(api, dead["task_id"]))["dead"] is True
    assert (await wait_terminal(api, permanent["task_id"]))["status"] == "failed"
    spans = await trace_of(otlp, dead["trace_id"], lambda ss: len(named(ss, "process default")) == 2)
    last = max(named(spans, "process default"), key=_attempt)
    marked = last.event("dead-lettered")
    assert marked is not None
    assert marked.attributes["mediajobs.reason"] == "RetriesExhausted"
    assert last.event("retry scheduled") is None
    (failed,) = named(
        await trace_of(otlp, permanent["trace_id"], lambda ss: bool(named(ss, "process default"))),
        "process default",
    )
    assert (failed.status_code, failed.attributes["error.type"]) == (ERROR, "EchoFailed")
    assert failed.event("retry scheduled") is None


async def test_a_cancelled_job_has_cancel_events_and_throttled_progress(
    traced: tuple[Cluster, httpx.AsyncClient], otlp: OtlpReceiver
) -> None:
    """A running job cancelled: its attempt span carries `cancel requested` and `cancelled`; its progress
    (reported every 0.1 s) appears as `progress` events at most about once a second."""
    _, api = traced
    job = await submit(api, {"job_type": "echo", "sleep_s": 30})
    await wait_for(api, job["task_id"], lambda j: (j["progress"].get("percent") or 0) > 7, timeout=20)
    assert (await api.post(f"/jobs/{job['task_id']}/cancel")).status_code == 202
    final = await wait_terminal(api, job["task_id"])
    assert final["status"] == "cancelled"
    (attempt,) = named(
        await trace_of(otlp, job["trace_id"], lambda ss: bool(named(ss, "process default"))),
        "process default",
    )
    names = [e.name for e in attempt.events]
    assert "cancel requested" in names
    assert names.index("cancel requested") < names.index("cancelled")
    progress = [e for e in attempt.events if e.name == "progress"]
    seconds = (attempt.end_ns - attempt.start_ns) / 1e9
    assert 2 <= len(progress) <= seconds + 2, (len(progress), seconds)
    assert all(b.time_ns - a.time_ns >= 0.9e9 for a, b in itertools.pairwise(progress[:-1]))
    assert float(str(progress[-1].attributes["mediajobs.progress.percent"])) > 7


async def test_trace_url_on_status_list_and_events(traced: tuple[Cluster, httpx.AsyncClient]) -> None:
    """With TRACING_UI_URL set, the status, every list entry and every SSE event carry `trace_url`: the
    template with the job's trace id in place of `{trace_id}`."""
    _, api = traced
    job = await submit(api, {"job_type": "echo", "sleep_s": 0.3})
    expected = PHOENIX.format(trace_id=job["trace_id"])
    assert job["trace_url"] == expected
    events = await sse_events(api, job["task_id"])
    assert events
    assert {e[1]["trace_url"] for e in events} == {expected}
    status = (await api.get(f"/jobs/{job['task_id']}/status")).json()
    assert status["trace_url"] == expected
    listed = (await api.get("/jobs/list")).json()["jobs"]
    assert [j["trace_url"] for j in listed if j["task_id"] == job["task_id"]] == [expected]


def test_trace_url_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template without `{trace_id}` gets Jaeger's `/trace/<id>`; no template or no trace id: None."""
    trace_id = "ab" * 16
    for value, expected in (
        ("http://127.0.0.1:16686/", f"http://127.0.0.1:16686/trace/{trace_id}"),
        (PHOENIX, PHOENIX.replace("{trace_id}", trace_id)),
        ("", None),
    ):
        monkeypatch.setenv("TRACING_UI_URL", value)
        trace_links._template.cache_clear()
        assert trace_links.trace_url(trace_id) == expected
    assert trace_links.trace_url(None) is None
    monkeypatch.delenv("TRACING_UI_URL")
    trace_links._template.cache_clear()
    assert trace_links.trace_url(trace_id) is None


@pytest.mark.parametrize(
    "switch", [{"OTEL_TRACES_SAMPLER": "always_off"}, {"OTEL_SDK_DISABLED": "true"}], ids=json.dumps
)
async def test_standard_switches_turn_spans_off(
    redis_url: str, tmp_path: Path, otlp: OtlpReceiver, api_keys: ApiKeys, switch: dict[str, str]
) -> None:
    """OTEL_TRACES_SAMPLER=always_off and OTEL_SDK_DISABLED=true: jobs run as ever (retries included),
    and not one span about them reaches the collector."""
    async with private_cluster(redis_url, SWITCHES_DB, tmp_path / "media", otlp) as cluster:
        port = free_port()
        keys = str(api_keys.file(tmp_path))
        cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=keys, **switch)
        cluster.start("janitor", **switch)
        api_url = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_until_ready, api_url, {"janitor"}, api_keys.admin)
        async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=bearer(api_keys.admin)) as api:
            job = await submit(api, flaky(fail_attempts=1))
            final = await wait_terminal(api, job["task_id"], timeout=30)
    assert (final["status"], final["attempts"]) == ("succeeded", 2), cluster.logs()[-3000:]
    await asyncio.sleep(1.0)  # well past the exporters' 200 ms batch delay
    about = [
        s
        for s in otlp.spans
        if job["task_id"]
        in (s.attributes.get("mediajobs.job.id"), s.attributes.get("messaging.message.conversation_id"))
        or (final["trace_id"] and s.trace_id == final["trace_id"])
    ]
    assert about == []


def _parent_of(span: Span, spans: list[Span]) -> Span:
    parent = by_id(spans).get(span.parent_span_id or "")
    assert parent is not None, f"{span.name}: parent {span.parent_span_id} not in the trace"
    return parent


def _under(span: Span, ancestor: Span, spans: list[Span]) -> bool:
    index = by_id(spans)
    current: Span | None = span
    while current is not None:
        if current.span_id == ancestor.span_id:
            return True
        current = index.get(current.parent_span_id or "")
    return False


async def test_a_pipeline_is_one_trace_through_every_process(
    api: httpx.AsyncClient, media_server: MediaServer, otlp: OtlpReceiver
) -> None:
    """video_download `then` thumbnail + metadata_enrich: one trace. The gateway's HTTP span holds `create
    video_download`; its `process video_downloads` attempt holds the yt-dlp child's spans (names `ytdlp …`,
    `mediajobs.process=ytdlp-child`) and creates the follow-ups (`create thumbnail`, `create
    metadata_enrich`, staged: operation type `create`), each processed by its service under its create span,
    with the phases inside (imaging's from its CPU pool process)."""
    parent = await submit(
        api,
        {
            "job_type": "video_download",
            "url": media_server.url("clip.mp4"),
            "allow_duplicate": True,
            "then": [{"job_type": "thumbnail", "sizes": [96, 160]}, {"job_type": "metadata_enrich"}],
        },
    )
    done = await wait_terminal(api, parent["task_id"], timeout=60)
    assert done["status"] == "succeeded", done
    thumb_id, meta_id = done["children"]
    for child in (thumb_id, meta_id):
        assert (await wait_terminal(api, child, timeout=60))["status"] == "succeeded"
    wanted = ("process video_downloads", "process image_processing", "process metadata", "imaging encode")
    spans = await trace_of(otlp, parent["trace_id"], lambda ss: all(named(ss, n) for n in wanted))

    (create,) = named(spans, "create video_download")
    http = _parent_of(create, spans)
    assert (http.kind, http.service_name) == (SERVER, "gateway")
    assert create.attributes["messaging.destination.name"] == "mj:queue:video_downloads"
    (download,) = named(spans, "process video_downloads")
    assert (download.kind, download.parent_span_id) == (CONSUMER, create.span_id)
    assert download.service_name == "downloader"
    assert download.attributes["mediajobs.job.id"] == parent["task_id"]
    assert download.attributes["messaging.consumer.group.name"] == "downloader"
    assert any(e.name == "progress" for e in download.events)

    (child_run,) = named(spans, "yt-dlp child")
    assert _parent_of(child_run, spans).span_id == download.span_id
    ytdlp = [s for s in spans if s.name.startswith("ytdlp ")]
    names = {s.name for s in ytdlp}
    phases = {
        "ytdlp extract",
        "ytdlp download",
        "ytdlp postprocess",
        "ytdlp move into place",
        "ytdlp checksum",
    }
    assert phases <= names, names
    for span in ytdlp:
        assert span.service_name == "downloader"
        assert span.attributes["service.name"] == "downloader"
        assert span.attributes["mediajobs.process"] == "ytdlp-child"
        assert span.attributes["process.pid"] == child_run.attributes["process.pid"]
        assert _under(span, child_run, spans)
        assert child_run.start_ns <= span.start_ns <= span.end_ns <= child_run.end_ns

    for job_type, queue, service, child_id in (
        ("thumbnail", "image_processing", "imaging", thumb_id),
        ("metadata_enrich", "metadata", "metadata", meta_id),
    ):
        (made,) = named(spans, f"create {job_type}")
        assert (made.kind, made.service_name) == (PRODUCER, "downloader")
        assert made.attributes["messaging.operation.type"] == "create"  # staged, sent when the parent ends
        assert made.attributes["mediajobs.job.id"] == child_id
        assert _parent_of(made, spans).span_id == download.span_id
        (processed,) = named(spans, f"process {queue}")
        assert (processed.kind, processed.parent_span_id) == (CONSUMER, made.span_id)
        assert processed.service_name == service
        assert processed.start_ns >= made.end_ns

    (thumbnail,) = named(spans, "process image_processing")
    encodes = named(spans, "imaging encode")
    assert sorted(int(str(s.attributes["mediajobs.image.size"])) for s in encodes) == [96, 160]
    for phase in ("imaging decode", "imaging candidate frames", "imaging sharpness", "imaging encode"):
        found = named(spans, phase)
        assert found, phase
        assert all(_under(s, thumbnail, spans) and s.service_name == "imaging" for s in found)
    (metadata,) = named(spans, "process metadata")
    probes = named(spans, "metadata probe")
    assert probes
    assert all(_under(s, metadata, spans) for s in probes)


async def test_a_playlists_children_are_in_its_trace(
    api: httpx.AsyncClient, media_server: MediaServer, otlp: OtlpReceiver
) -> None:
    """A playlist's entries are jobs created inside the parent's attempt (`create video_download`, held:
    operation type `create`); each child's attempt is in the parent's trace, under its own create span."""
    parent = await submit(
        api, {"job_type": "playlist_download", "url": media_server.url("feed.rss"), "items": "1"}
    )
    done = await wait_terminal(api, parent["task_id"], timeout=60)
    assert done["status"] == "succeeded", done
    (child_id,) = done["children"]
    spans = await trace_of(
        otlp,
        parent["trace_id"],
        lambda ss: any(s.attributes.get("mediajobs.job.id") == child_id and s.kind == CONSUMER for s in ss),
    )
    (listing,) = [
        s
        for s in named(spans, "process video_downloads")
        if s.attributes["mediajobs.job.type"] == "playlist_download"
    ]
    assert listing.event("awaiting children") is not None
    assert named(spans, "ytdlp list")
    (made,) = [
        s for s in named(spans, "create video_download") if s.attributes["mediajobs.job.id"] == child_id
    ]
    assert made.attributes["messaging.operation.type"] == "create"
    assert _parent_of(made, spans).span_id == listing.span_id
    (child,) = [s for s in spans if s.kind == CONSUMER and s.attributes["mediajobs.job.id"] == child_id]
    assert child.parent_span_id == made.span_id
    assert child.attributes["mediajobs.job.type"] == "video_download"
