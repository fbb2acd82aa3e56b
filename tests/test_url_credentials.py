"""Credentials in URLs (`http://user:pw@host/a.mp4`) and secret query values (`?token=…`): the worker
downloads with them, and nothing a person or another system reads shows them — API answers (submit, status,
list, result, events, the change feed, items, dead letters, schedules), the CLI, spans, logs, metrics, the
search index, the result's `source_url` and the info JSON written beside the file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from redis.asyncio import Redis

from downloader.output_secrets import scrub_info_json
from jobcommon import CommonSettings, JobClient, keys
from jobcommon.models import ErrorInfo
from jobcommon.redaction import redact, redact_data, url_userinfo
from jobcommon.search_tokens import outcome_tokens, request_tokens
from jobcommon.store import JobStore
from jobcommon.submission import submit_job
from tests.conftest import ApiKeys, Stack
from tests.jobs import sse_events, status, submit, wait_terminal
from tests.support.dead_letters import bury
from tests.support.httpserver import MediaServer
from tests.support.media import make_mp4
from tests.support.otlp import OtlpReceiver

USER = "mjuser"
PASSWORD = "Pw4xyzzyquux"
TOKEN = "Tk9plughfrob"
SECRETS = (PASSWORD, TOKEN)
SEARCHED = ("Pw7searchedgrault", "Tk3searchedgarply")
"""Secrets a test searches for: a search puts its words in the gateway's access log and HTTP span, so those
are not the ones another test looks for there."""


def leaked(text: str, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """The `secrets` that `text` shows."""
    return [secret for secret in secrets if secret.casefold() in text.casefold()]


def with_credentials(server: MediaServer, path: str, password: str = PASSWORD, token: str = TOKEN) -> str:
    """The server's URL of `path` with the user and `password` in it and a `token` query value."""
    base = server.base_url.replace("://", f"://{USER}:{password}@")
    return f"{base}/{path}?token={token}&v=1"


def masked_url(server: MediaServer, path: str) -> str:
    return f"{server.base_url.replace('://', '://***@')}/{path}?token=***&v=1"


@pytest.fixture(scope="module")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    """A media server that serves only requests carrying USER:PASSWORD as HTTP Basic auth."""
    root = tmp_path_factory.mktemp("locked")
    make_mp4(root / "clip.mp4", seconds=2.0)
    with MediaServer(root, credentials=(USER, PASSWORD)) as server:
        yield server


def run_cli(stack: Stack, key: str, *args: str, cwd: Path) -> str:
    """The `mediajobs` CLI's output (stdout and stderr) for `args`; it must end 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAJOBS_")}
    env |= {"MEDIAJOBS_URL": stack.api_url, "MEDIAJOBS_API_KEY": key, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "mediajobs_cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr


async def change_feed_until_ended(api: httpx.AsyncClient, task_id: str) -> list[str]:
    """Every change feed event (as received) from the feed's start until `task_id`'s terminal one."""
    seen: list[str] = []
    async with (
        asyncio.timeout(30),
        aconnect_sse(api, "GET", "/jobs/stream", params={"after": "0-0"}) as source,
    ):
        async for sse in source.aiter_sse():
            seen.append(sse.data)
            job = json.loads(sse.data)["job"]
            if job["task_id"] == task_id and job["status"] in {"succeeded", "failed", "cancelled"}:
                return seen
    raise AssertionError(f"the change feed ended before {task_id} did")


def test_redact_data_masks_every_string_and_keeps_what_holds_no_secret() -> None:
    clean = {"a": ["x", 1, None, {"b": "https://h/p?id=1"}], "when": 2.5}
    assert redact_data(clean) is clean
    data = {"url": "https://u:pw@h/a?token=t&id=1", "nested": [{"k": "ftp://me@h/x"}], "n": 3}
    assert redact_data(data) == {
        "url": "https://***@h/a?token=***&id=1",
        "nested": [{"k": "ftp://***@h/x"}],
        "n": 3,
    }
    # yt-dlp's bare authority (no scheme): masked when the URL's user info is known
    domain = {"webpage_url_domain": "u:pw@h:8080"}
    assert redact_data(domain, userinfo=url_userinfo("https://u:pw@h:8080/a")) == {
        "webpage_url_domain": "***@h:8080"
    }
    assert url_userinfo("https://u:pw@h/a@b") == "u:pw"
    assert url_userinfo("https://h/a@b") is None
    assert url_userinfo("not a url") is None


def test_search_tokens_leave_out_credentials_and_secret_query_values() -> None:
    """The host and path are indexed; a URL's user, password and token are not, wherever they appear (the
    URL, a title, an error message naming the URL, a URL that does not even parse)."""
    url = f"https://{USER}:{PASSWORD}@media.example/videos/clip.mp4?token={TOKEN}"
    tokens = request_tokens({"url": url, "title": f"see {url}"})
    assert {"media", "example", "videos", "clip", "mp4", "see"} <= set(tokens)
    assert not leaked(" ".join(tokens)), tokens
    assert USER not in tokens
    broken = request_tokens({"url": f"https://{USER}:{PASSWORD}@[media.example/clip.mp4"})
    assert "clip" in broken
    assert not leaked(" ".join(broken)), broken
    error = {"type": "UnsupportedError", "message": f"Unsupported URL: {url}"}
    told = outcome_tokens(None, error)
    assert {"unsupported", "url", "media", "clip"} <= set(told)
    assert not leaked(" ".join(told)), told


def test_the_info_json_is_rewritten_without_the_url_secrets(tmp_path: Path) -> None:
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:8080/clip.mp4?token={TOKEN}"
    info = {
        "title": "clip",
        "webpage_url": url,
        "webpage_url_domain": f"{USER}:{PASSWORD}@127.0.0.1:8080",
        "formats": [{"url": url, "ext": "mp4"}],
        "title_ünïcode": "ok",
    }
    path = tmp_path / "media.info.json"
    path.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    scrub_info_json(path, url)
    text = path.read_text(encoding="utf-8")
    assert not leaked(text), text
    written = json.loads(text)
    assert written["webpage_url"] == "http://***@127.0.0.1:8080/clip.mp4?token=***"
    assert written["webpage_url_domain"] == "***@127.0.0.1:8080"
    assert written["title_ünïcode"] == "ok"
    assert list(tmp_path.iterdir()) == [path]
    untouched = tmp_path / "plain.info.json"
    untouched.write_text('{"webpage_url": "http://h/a.mp4"}')
    before = untouched.stat().st_mtime_ns
    scrub_info_json(untouched, "http://h/a.mp4")
    assert untouched.stat().st_mtime_ns == before


async def test_a_download_with_credentials_succeeds_and_shows_them_nowhere(
    api: httpx.AsyncClient,
    stack: Stack,
    api_keys: ApiKeys,
    locked_server: MediaServer,
    otlp: OtlpReceiver,
    redis: Redis,
    tmp_path: Path,
) -> None:
    url = with_credentials(locked_server, "clip.mp4")
    submitted = await api.post(
        "/jobs/submit",
        json={"job_type": "video_download", "url": url, "options": {"write_info_json": True}},
    )
    assert submitted.status_code == 202, submitted.text
    assert not leaked(submitted.text), submitted.text
    task_id = submitted.json()["task_id"]
    assert submitted.json()["request"]["url"] == masked_url(locked_server, "clip.mp4")

    events = await sse_events(api, task_id, timeout=90)
    assert events[-1][1]["status"] == "succeeded", events[-1]
    assert not leaked(json.dumps(events))

    # the credentials reached the server: the worker downloaded with them
    fetched = locked_server.requests_for("/clip.mp4")
    assert fetched, locked_server.requests
    assert {record.user for record in fetched} == {USER}
    job = await status(api, task_id)
    result = job["result"]
    stored = stack.media_root / result["path"]
    assert stored.read_bytes() == (locked_server.root / "clip.mp4").read_bytes()
    assert result["source_url"] == masked_url(locked_server, "clip.mp4")
    stored_result, stored_request = await redis.hmget(keys.job(task_id), ["result", "request"])
    assert isinstance(stored_result, str)
    assert not leaked(stored_result), stored_result  # stored masked, not only shown masked
    assert isinstance(stored_request, str)
    assert PASSWORD in stored_request  # the worker's copy keeps it

    info_json = next(extra for extra in result["extra_files"] if extra["kind"] == "info_json")
    info_text = (stack.media_root / info_json["path"]).read_text(encoding="utf-8")
    assert not leaked(info_text), info_text
    assert json.loads(info_text)["webpage_url"] == masked_url(locked_server, "clip.mp4")
    assert info_json["size"] == len(info_text.encode())

    answers = [
        await api.get(f"/jobs/{task_id}/status"),
        await api.get(f"/jobs/{task_id}/result"),
        await api.get("/jobs/list", params={"limit": 500}),
        await api.get("/jobs/list", params={"q": "clip mp4"}),
        await api.get("/metrics"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert not leaked(answer.text), (answer.request.url, answer.text)
    assert task_id in answers[3].text  # the host and path are still searchable
    assert not leaked("".join(await change_feed_until_ended(api, task_id)))

    for args in (("get", task_id), ("get", task_id, "-o", "json"), ("ls",), ("ls", "-o", "json")):
        shown = run_cli(stack, api_keys.admin, *args, cwd=tmp_path)
        assert not leaked(shown), (args, shown)
    shown = run_cli(stack, api_keys.admin, "get", task_id, "-o", "json", cwd=tmp_path)
    assert json.loads(shown)["request"]["url"] == masked_url(locked_server, "clip.mp4")

    consumer = otlp.wait_for(
        lambda s: s.attributes.get("mediajobs.job.id") == task_id and s.name == "process video_downloads",
        timeout=30,
    )
    trace_spans = [s for s in otlp.spans if s.trace_id == consumer[0].trace_id]
    assert len(trace_spans) > 2
    assert not leaked(repr(otlp.spans))
    assert not leaked(stack.logs())

    # searched by the password or the token (after the span and log checks: the query is in both), the
    # job is not found
    for secret in SECRETS:
        found = (await api.get("/jobs/list", params={"q": secret})).json()
        assert task_id not in [j["task_id"] for j in found["jobs"]], secret
        counted = (await api.get("/jobs/counts", params={"q": secret})).json()
        assert counted["total"] == 0, (secret, counted)


async def test_retry_runs_with_the_credentials_the_api_never_shows(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The stored request keeps the real URL: a job that failed because the server did not take its
    password yet succeeds when retried once it does, while its error and record show no secret."""
    make_mp4(tmp_path / "clip.mp4", seconds=1.0)
    with MediaServer(tmp_path, credentials=(USER, "not-yet")) as server:
        url = with_credentials(server, "clip.mp4")
        job = await submit(api, {"job_type": "video_download", "url": url})
        failed = await wait_terminal(api, job["task_id"], timeout=60)
        assert failed["status"] == "failed", failed
        assert "401" in failed["error"]["message"]
        assert {r.status for r in server.requests} == {401}
        assert not leaked(json.dumps(failed))

        server.credentials = (USER, PASSWORD)
        retried = await api.post(f"/jobs/{job['task_id']}/retry")
        assert retried.status_code == 202, retried.text
        assert not leaked(retried.text)
        done = await wait_terminal(api, job["task_id"], timeout=60)
        assert done["status"] == "succeeded", done
        assert not leaked(json.dumps(done))
        assert {r.user for r in server.requests if r.status in {200, 206}} == {USER}


async def test_an_error_naming_the_url_is_masked_and_not_searchable(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    """yt-dlp names the URL in some errors (a page without media: "Unsupported URL: …"): the job's error
    shows it masked, and the password and token in it are not indexed."""
    (tmp_path / "empty.html").write_text(
        "<html><head><title>Nothing</title></head><body>no media</body></html>"
    )
    password, token = SEARCHED
    with MediaServer(tmp_path, credentials=(USER, password)) as server:
        url = with_credentials(server, "empty.html", password, token)
        job = await submit(api, {"job_type": "video_download", "url": url})
        failed = await wait_terminal(api, job["task_id"], timeout=60)
    assert failed["status"] == "failed", failed
    assert "***@" in failed["error"]["message"], failed["error"]
    assert not leaked(json.dumps(failed), SEARCHED)
    listed = await api.get("/jobs/list", params={"q": "empty html", "status": "failed"})
    assert job["task_id"] in listed.text
    assert not leaked(listed.text, SEARCHED)
    for secret in SEARCHED:
        found = await api.get("/jobs/list", params={"q": secret})
        assert job["task_id"] not in found.text, secret


async def test_playlist_items_and_entries_show_no_credentials(
    api: httpx.AsyncClient, locked_server: MediaServer
) -> None:
    """A feed behind Basic auth that lists its entries with credentials: every entry downloads, and the
    items, the entries' jobs and the parent show them masked."""
    feed = locked_server.root / f"feed-{uuid.uuid4().hex}.rss"
    entries = [
        with_credentials(locked_server, "clip.mp4").replace("&", "&amp;") + f"&amp;n={i}" for i in range(2)
    ]
    items = "".join(
        f'<item><title>Entry {i}</title><guid>e{i}</guid><enclosure url="{entry}" type="video/mp4" '
        'length="1"/></item>'
        for i, entry in enumerate(entries)
    )
    feed.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Locked</title><link>{{BASE}}/</link>'
        f"<description>x</description>{items}</channel></rss>"
    )
    parent = await submit(
        api, {"job_type": "playlist_download", "url": with_credentials(locked_server, feed.name)}
    )
    done = await wait_terminal(api, parent["task_id"], timeout=90)
    assert done["status"] == "succeeded", done
    assert done["result"]["succeeded"] == 2, done["result"]
    page = await api.get(f"/jobs/{parent['task_id']}/items")
    assert page.status_code == 200
    assert [item["status"] for item in page.json()["items"]] == ["succeeded", "succeeded"]
    assert all("***@" in item["item"] for item in page.json()["items"]), page.json()
    assert not leaked(page.text), page.text
    assert not leaked(json.dumps(done))
    for child in done["children"]:
        shown = await status(api, child)
        assert shown["status"] == "succeeded"
        assert not leaked(json.dumps(shown)), shown


async def test_dead_letters_show_no_credentials(api: httpx.AsyncClient, stack: Stack) -> None:
    owner = f"owner{uuid.uuid4().hex[:8]}"
    url = f"https://{USER}:{PASSWORD}@media.example/a.mp4?token={TOKEN}"
    settings = CommonSettings(redis_url=stack.redis_url, media_root=stack.media_root)
    task_id = uuid.uuid4().hex
    async with JobClient(settings) as client:
        await bury(
            client,
            task_id,
            owner=owner,
            request={"job_type": "echo", "payload": {"source": url}},
            error=ErrorInfo(type="Unreachable", message=f"could not fetch {url}"),
        )
    listed = await api.get("/jobs/dead", params={"owner": owner})
    assert listed.status_code == 200, listed.text
    letters: list[dict[str, Any]] = listed.json()
    assert [letter["job"]["task_id"] for letter in letters] == [task_id]
    assert letters[0]["job"]["request"]["payload"]["source"] == redact(url)
    assert not leaked(listed.text), listed.text


async def test_a_follow_up_reads_the_source_with_the_credentials(
    api: httpx.AsyncClient, locked_server: MediaServer
) -> None:
    """`metadata_enrich` after a download asks the source about it with the URL the download used (the
    result's `source_url` is masked, the request has the credentials); what it found shows none."""
    url = with_credentials(locked_server, "clip.mp4").replace("v=1", "v=follow")
    parent = await submit(
        api, {"job_type": "video_download", "url": url, "then": [{"job_type": "metadata_enrich"}]}
    )
    done = await wait_terminal(api, parent["task_id"], timeout=60)
    assert done["status"] == "succeeded", done
    (meta_id,) = done["children"]
    meta = await wait_terminal(api, meta_id, timeout=60)
    assert meta["status"] == "succeeded", meta
    page = await api.get(f"/jobs/{meta_id}/items")
    item = page.json()["items"][0]
    assert item["result"].get("source_error") is None, item
    assert item["result"]["source"]["title"] == "clip", item
    assert item["result"]["file"]["width"] == 320
    assert not leaked(page.text), page.text
    assert not leaked(json.dumps(meta))


async def test_duplicates_tell_passwords_apart_without_keeping_them_in_key_names(
    unrun_redis: Redis, settings: CommonSettings
) -> None:
    """The same download with another password is other work (a job of its own); with the same password it
    is a duplicate. The duplicate guard is a digest: no key name holds the password."""
    store = JobStore(unrun_redis, settings)
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:9/a.mp4?token={TOKEN}"
    first = await submit_job(store, {"job_type": "video_download", "url": url})
    again = await submit_job(store, {"job_type": "video_download", "url": url})
    assert (again.created, again.job.task_id) == (False, first.job.task_id)
    other = await submit_job(
        store, {"job_type": "video_download", "url": url.replace(PASSWORD, "another-password")}
    )
    assert other.created
    assert other.job.task_id != first.job.task_id
    names = [name async for name in unrun_redis.scan_iter(count=1000)]
    assert names
    assert not leaked(" ".join(names)), names


async def test_schedules_show_their_job_without_credentials(
    api: httpx.AsyncClient, stack: Stack, api_keys: ApiKeys, redis: Redis, tmp_path: Path
) -> None:
    """A schedule keeps the real URL for the jobs its ticks submit; the API and the CLI show it masked."""
    name = f"locked-{uuid.uuid4().hex[:8]}"
    url = f"https://{USER}:{PASSWORD}@media.example/a.mp4?token={TOKEN}"
    spec = {
        "name": name,
        "every_s": 86400,
        "paused": True,
        "request": {"job_type": "video_download", "url": url},
    }
    made = await api.post("/jobs/schedules", json=spec)
    assert made.status_code == 201, made.text
    try:
        assert made.json()["request"]["url"] == redact(url)
        answers = [
            made,
            await api.get(f"/jobs/schedules/{name}"),
            await api.get("/jobs/schedules"),
            await api.post(f"/jobs/schedules/{name}/pause"),
        ]
        for answer in answers:
            assert answer.status_code in {200, 201}, answer.text
            assert name in answer.text
            assert not leaked(answer.text), answer.text
        shown = run_cli(stack, api_keys.admin, "schedules", "ls", cwd=tmp_path)
        assert name in shown
        assert not leaked(shown), shown
        stored = await redis.hget(keys.SCHEDULES, name)
        assert isinstance(stored, str)
        assert PASSWORD in stored  # what its ticks submit
    finally:
        assert (await api.delete(f"/jobs/schedules/{name}")).status_code == 204
