"""Observability across real processes: Prometheus metrics scraped from the gateway and from a worker's
METRICS_PORT before and after a run of jobs; JSON log lines of a job carrying its task and trace ids."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from jobcommon import JobClient
from jobcommon.log_context import RunFields, bound
from jobcommon.logs import configure_logging
from tests.cluster import Cluster
from tests.conftest import ApiKeys, bearer, wait_until_ready
from tests.jobs import submit, wait_terminal
from tests.support.httpserver import MediaServer
from tools.localredis import free_port

Scrape = list[tuple[str, dict[str, str], float]]


async def _scrape(url: str, headers: dict[str, str] | None = None) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def _value(scrape: Scrape, name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    return sum(v for n, ls, v in scrape if n == name and labels.items() <= ls.items())


async def _worker_scrape(url: str, timeout: float = 30.0) -> Scrape:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await _scrape(url)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def _flaky(fail_attempts: int, max_attempts: int) -> dict[str, Any]:
    return {
        "job_type": "echo",
        "fail_with": "flaky",
        "fail_kind": "transient",
        "fail_attempts": fail_attempts,
        "retry": {"max_attempts": max_attempts, "backoff_base_s": 0.05, "backoff_cap_s": 0.1},
    }


async def test_metrics_count_a_run_of_jobs(cluster: Cluster, tmp_path: Path, api_keys: ApiKeys) -> None:
    """The gateway's /metrics (admin key unless METRICS_PUBLIC) counts submissions and cancels and reads every
    queue at scrape time (a job waiting with no worker shows as lag and oldest-waiting age); the worker's
    METRICS_PORT counts finished jobs by status, retries, errors by class, dead letters, attempt durations and
    queue waits. Labels never hold a task id."""
    port, metrics_port = free_port(), free_port()
    cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)))
    api_url = f"http://127.0.0.1:{port}"
    wait_until_ready(api_url, set(), api_keys.admin)
    gateway_metrics = f"{api_url}/metrics"
    admin = bearer(api_keys.admin)
    async with httpx.AsyncClient(base_url=api_url, timeout=30, headers=admin) as api:
        assert (await api.get("/metrics", headers={"Authorization": ""})).status_code == 401
        assert (await api.get("/metrics", headers=bearer(api_keys.alice_read))).status_code == 403
        before = await _scrape(gateway_metrics, admin)

        waiting = await submit(api, {"job_type": "echo", "payload": {"n": 0}})
        dropped = await submit(api, {"job_type": "echo", "payload": {"n": -1}})
        assert (await api.post(f"/jobs/{dropped['task_id']}/cancel")).status_code == 202
        await asyncio.sleep(1.2)  # no worker yet: the job waits in the queue
        queued = await _scrape(gateway_metrics, admin)
        assert _value(queued, "mediajobs_queue_lag", queue="default") >= 1
        assert _value(queued, "mediajobs_queue_length", queue="default") >= 1
        assert _value(queued, "mediajobs_queue_oldest_waiting_age_seconds", queue="default") >= 1.0

        worker = cluster.start("janitor", METRICS_PORT=str(metrics_port), CONCURRENCY="4")
        worker_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        assert (await wait_terminal(api, waiting["task_id"]))["status"] == "succeeded"
        worker_before = await _worker_scrape(worker_metrics)

        bodies = [
            {"job_type": "echo", "payload": {"n": 1}},
            {"job_type": "echo", "payload": {"n": 2}},
            _flaky(fail_attempts=1, max_attempts=2),  # fails once, then succeeds
            _flaky(fail_attempts=5, max_attempts=2),  # out of attempts: dead letter
            {"job_type": "echo", "fail_with": "no", "fail_kind": "permanent"},
        ]
        jobs = [await submit(api, body) for body in bodies]
        finals = [await wait_terminal(api, job["task_id"]) for job in jobs]
        assert [f["status"] for f in finals] == ["succeeded", "succeeded", "succeeded", "failed", "failed"]
        after = await _scrape(gateway_metrics, admin)
        worker_after = await _scrape(worker_metrics)

    def delta(old: Scrape, new: Scrape, name: str, **labels: str) -> float:
        return _value(new, name, **labels) - _value(old, name, **labels)

    assert delta(before, after, "mediajobs_jobs_submitted_total", job_type="echo") == 7
    assert delta(before, after, "mediajobs_cancel_requests_total", status="cancelled") == 1
    assert _value(after, "mediajobs_queue_lag", queue="default") == 0
    assert _value(after, "mediajobs_queue_oldest_waiting_age_seconds", queue="default") == 0
    assert _value(after, "mediajobs_queue_consumers", queue="default") >= 1
    finished = "mediajobs_jobs_finished_total"
    assert delta(worker_before, worker_after, finished, job_type="echo", status="succeeded") == 3
    assert delta(worker_before, worker_after, finished, job_type="echo", status="failed") == 2
    assert delta(worker_before, worker_after, "mediajobs_job_retries_total", error_type="EchoFlaky") == 2
    assert delta(worker_before, worker_after, "mediajobs_job_errors_total", error_type="EchoFlaky") == 3
    assert delta(worker_before, worker_after, "mediajobs_job_errors_total", error_type="EchoFailed") == 1
    dead = "mediajobs_jobs_dead_lettered_total"
    assert delta(worker_before, worker_after, dead, reason="RetriesExhausted") == 1
    attempts = 7  # 2 + 2 (flaky once) + 2 (dead letter) + 1 (permanent)
    for histogram in ("mediajobs_job_attempt_duration_seconds", "mediajobs_job_queue_wait_seconds"):
        assert delta(worker_before, worker_after, f"{histogram}_count", job_type="echo") == attempts
        assert delta(worker_before, worker_after, f"{histogram}_sum", job_type="echo") > 0
    assert _value(worker_after, "mediajobs_jobs_running", job_type="echo") == 0
    received = "mediajobs_broker_received_messages_total"  # FastStream's own, by stream
    assert delta(worker_before, worker_after, received, app_name="janitor", handler="mj:queue:default") >= 5
    ids = {waiting["task_id"], dropped["task_id"], *(job["task_id"] for job in jobs)}
    for scrape in (after, worker_after):
        assert not {value for _, labels, _ in scrape for value in labels.values()} & ids
    assert worker.alive()


async def test_json_log_lines_of_a_job_carry_its_ids(cluster: Cluster) -> None:
    """With LOG_FORMAT=json every line is one JSON object; the lines about a job (the middleware's and the
    handler's) carry its task id, job type, attempt, the service and the job's trace and span ids, and the
    console messages tests and people read ("start job=…", "succeeded job=…") are kept."""
    worker = cluster.start("janitor", LOG_FORMAT="json", METRICS_PORT="0")
    async with JobClient(cluster.settings) as jobs:
        job = (await jobs.submit({"job_type": "echo", "payload": {"hi": 1}})).job
        final = await jobs.wait(job.task_id, timeout=30)
    assert final.trace_id
    deadline = time.monotonic() + 10
    while not any(f"succeeded job={job.task_id}" in line for line in worker.lines):
        assert time.monotonic() < deadline, worker.output()
        await asyncio.sleep(0.1)
    records = [json.loads(line) for line in worker.lines if line.startswith("{")]
    assert records, worker.output()
    assert len(records) == len([line for line in worker.lines if line.strip()]), worker.output()
    about = [r for r in records if r.get("task_id") == job.task_id]
    messages = [r["message"] for r in about]
    assert any(m.startswith(f"start job={job.task_id} type=echo attempt=1/") for m in messages), messages
    assert f"succeeded job={job.task_id}" in messages
    for record in about:
        assert record["service"] == "janitor"
        assert record["job_type"] == "echo"
        assert record["attempt"] == 1
        assert record["trace_id"] == final.trace_id
        assert len(record["span_id"]) == 16
        assert {"time", "level", "logger"} <= record.keys()
    assert all(r["service"] == "janitor" for r in records)


async def test_public_metrics_need_no_key_and_name_no_secret(
    cluster: Cluster, tmp_path: Path, api_keys: ApiKeys
) -> None:
    """With METRICS_PUBLIC=true a scraper without a key reads /metrics; what it reads names no key, owner
    or Redis address."""
    port = free_port()
    cluster.start(
        "gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)), METRICS_PUBLIC="true"
    )
    api_url = f"http://127.0.0.1:{port}"
    wait_until_ready(api_url, set(), api_keys.admin)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert "mediajobs_queue_length" in text
    for secret in (api_keys.admin, api_keys.alice_submit, "alice", "redis://", cluster.redis_url):
        assert secret not in text


async def test_workers_count_bytes_downloaded_and_bulk_items(
    cluster: Cluster, media_server: MediaServer
) -> None:
    """The downloader counts the bytes of a finished download; imaging counts a bulk job's items by outcome
    (one source decodes, one is missing), and traces each as an `imaging item` span (the missing one
    failed), the good one's decode and encode recorded in the CPU pool process."""
    downloader_port, imaging_port = free_port(), free_port()
    cluster.start("downloader", METRICS_PORT=str(downloader_port))
    cluster.start("imaging", METRICS_PORT=str(imaging_port), IMAGING_WORKERS="1")
    (cluster.media_root / "in").mkdir(parents=True)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(cluster.media_root / "in" / "red.png")
    downloads = f"http://127.0.0.1:{downloader_port}/metrics"
    imaging = f"http://127.0.0.1:{imaging_port}/metrics"
    bytes_before = _value(await _worker_scrape(downloads), "mediajobs_downloaded_bytes_total")
    items_before = await _worker_scrape(imaging)
    async with JobClient(cluster.settings) as jobs:
        download = (
            await jobs.submit({"job_type": "video_download", "url": media_server.url("clip.mp4")})
        ).job
        bulk = (
            await jobs.submit({"job_type": "image_optimize", "sources": ["in/red.png", "in/missing.png"]})
        ).job
        downloaded = await jobs.wait(download.task_id, timeout=60)
        optimized = await jobs.wait(bulk.task_id, timeout=60)
    assert downloaded.result is not None, cluster.logs()
    assert optimized.status == "succeeded", cluster.logs()
    size = (media_server.root / "clip.mp4").stat().st_size
    assert downloaded.result["size"] == size
    assert _value(
        await _scrape(downloads), "mediajobs_downloaded_bytes_total", job_type="video_download"
    ) == (bytes_before + size)
    items_after = await _scrape(imaging)
    cluster.otlp.wait_for(lambda s: s.trace_id == optimized.trace_id and s.name == "imaging encode")
    spans = [s for s in cluster.otlp.spans if s.trace_id == optimized.trace_id]
    items = sorted(
        (s for s in spans if s.name == "imaging item"),
        key=lambda s: str(s.attributes["mediajobs.item.index"]),
    )
    assert [s.status_code for s in items] == [0, 2]  # unset, error
    pool = {s.name: s for s in spans if s.attributes.get("mediajobs.process") == "imaging-pool"}
    assert {"imaging optimize", "imaging decode", "imaging encode"} <= pool.keys()
    assert pool["imaging optimize"].parent_span_id == items[0].span_id
    assert pool["imaging encode"].parent_span_id == pool["imaging optimize"].span_id
    for outcome in ("succeeded", "failed"):
        labels = {"job_type": "image_optimize", "outcome": outcome}
        assert _value(items_after, "mediajobs_items_total", **labels) == (
            _value(items_before, "mediajobs_items_total", **labels) + 1
        )


async def test_a_dead_workers_job_counts_as_a_reclaim(cluster: Cluster) -> None:
    """A worker killed (-9) during a run: its job is requeued by the surviving worker's upkeep, which counts
    the reclaim, and then runs there (one more attempt, one more success), its attempt span marked with a
    `lease reclaimed` event naming the lost attempt."""
    ports = [free_port(), free_port()]
    workers = [cluster.start("janitor", METRICS_PORT=str(port)) for port in ports]
    scrapes = [await _worker_scrape(f"http://127.0.0.1:{port}/metrics") for port in ports]
    async with JobClient(cluster.settings) as jobs:
        job = (await jobs.submit({"job_type": "echo", "sleep_s": 3, "payload": {}})).job
        deadline = time.monotonic() + 30
        while not (started := cluster.starts().get(job.task_id)):
            assert time.monotonic() < deadline, cluster.logs()
            await asyncio.sleep(0.05)
        holder = cluster.by_worker(started[0])
        killed_ns = time.time_ns()
        cluster.kill(holder)
        final = await jobs.wait(job.task_id, timeout=60)
    assert final.status == "succeeded", cluster.logs()
    assert final.attempts == 2
    survivor = 1 - workers.index(holder)
    after = await _scrape(f"http://127.0.0.1:{ports[survivor]}/metrics")
    before = scrapes[survivor]
    reclaims = "mediajobs_job_reclaims_total"
    assert _value(after, reclaims, queue="default") == _value(before, reclaims, queue="default") + 1
    finished = {"job_type": "echo", "status": "succeeded"}
    assert _value(after, "mediajobs_jobs_finished_total", **finished) == (
        _value(before, "mediajobs_jobs_finished_total", **finished) + 1
    )
    (second,) = cluster.otlp.wait_for(
        lambda s: s.attributes.get("mediajobs.job.id") == job.task_id and s.name == "process default"
    )
    assert (second.trace_id, second.attributes["mediajobs.job.attempt"]) == (final.trace_id, 2)
    reclaimed = second.event("lease reclaimed")
    assert reclaimed is not None
    assert reclaimed.attributes["mediajobs.job.attempt"] == 1
    (upkeep, *_) = cluster.otlp.wait_for(
        lambda s: s.name == "reclaim default" and s.start_ns >= killed_ns and s.service_name == "janitor"
    )
    assert upkeep.attributes["mediajobs.reclaim.requeued"] == 1
    assert upkeep.attributes["mediajobs.reclaim.what"] == "deliveries of dead workers"


@pytest.fixture
def root_logging() -> Iterator[None]:
    yield
    for handler in logging.getLogger().handlers[:]:
        logging.getLogger().removeHandler(handler)


@pytest.mark.usefixtures("root_logging")
def test_json_lines_are_redacted_and_carry_the_bound_job(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LOG_FORMAT=json: one object per line, the bound job's fields on it, secrets masked in the message and
    in the exception; the console format keeps its `[service] logger: message` lines; other formats are
    refused."""
    monkeypatch.setenv("LOG_FORMAT", "json")
    configure_logging("test")
    log = logging.getLogger("mediajobs.test")
    with bound(RunFields("abc123", "echo", 2, "0" * 31 + "1")):
        try:
            raise RuntimeError("fetching https://me:hunter2@h.example/f?token=t0k failed")
        except RuntimeError:
            log.exception("downloading %s", "https://me:hunter2@h.example/f?token=t0k")
    log.info("outside any job")
    lines = capsys.readouterr().err.splitlines()
    first, second = (json.loads(line) for line in lines)
    assert "hunter2" not in lines[0]
    assert "t0k" not in lines[0]
    assert first["message"] == "downloading https://***@h.example/f?token=***"
    assert "RuntimeError" in first["exception"]
    assert (first["service"], first["task_id"], first["job_type"], first["attempt"]) == (
        "test",
        "abc123",
        "echo",
        2,
    )
    assert first["trace_id"] == "0" * 31 + "1"
    assert first["level"] == "ERROR"
    assert second["message"] == "outside any job"
    assert "task_id" not in second

    monkeypatch.setenv("LOG_FORMAT", "console")
    configure_logging("test")
    log.info("succeeded job=%s", "abc123")
    assert "INFO    [test] mediajobs.test: succeeded job=abc123" in capsys.readouterr().err
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        configure_logging("test")
