"""The `mediajobs` CLI as a person uses it: a subprocess against the running stack, exit codes included."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from jobcommon import CommonSettings, ErrorInfo, JobClient
from mediajobs_cli import render
from mediajobs_cli.assignments import AssignmentError, build
from mediajobs_cli.follow import ProgressLine
from tests.conftest import ApiKeys, Stack, bearer
from tests.support.dead_letters import bury
from tests.support.httpserver import MediaServer

CLI = [sys.executable, "-m", "mediajobs_cli"]
INDIA = timezone(timedelta(hours=5, minutes=30))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def cli_env(stack: Stack, key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAJOBS_")}
    ours = {"MEDIAJOBS_URL": stack.api_url, "MEDIAJOBS_API_KEY": key, "COLUMNS": "120"}
    return {**env, **ours, "PYTHONFAULTHANDLER": "1", **extra}  # faulthandler: see wait_or_dump


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def mediajobs(stack: Stack, key: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(list(args), cli_env(stack, key), cwd)


def wait_status(stack: Stack, key: str, task_id: str, status: str, cwd: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        shown = mediajobs(stack, key, "get", task_id, "-o", "json", cwd=cwd)
        if json.loads(shown.stdout)["status"] == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"{task_id} never became {status}")


def test_set_values_are_json_when_they_parse_and_dotted_keys_nest() -> None:
    assert build(["payload.x=1", 'payload.tags=["a"]', "name=plain text", "payload.deep.ok=true"]) == {
        "payload": {"x": 1, "tags": ["a"], "deep": {"ok": True}},
        "name": "plain text",
    }
    with pytest.raises(AssignmentError):
        build(["novalue"])
    with pytest.raises(AssignmentError):
        build(["a=1", "a.b=2"])


def test_set_values_json_cannot_send_are_strings_or_refused() -> None:
    """Python's JSON reader takes NaN and Infinity, which no JSON writer sends (the CLI crashed with a
    traceback sending them): they are not JSON, so they stay text. A number beyond a float's range would
    be infinity: refused, naming the option."""
    assert build(["payload.a=NaN", "payload.b=-Infinity", "payload.c=[1, Infinity]", "payload.d=1.5e3"]) == {
        "payload": {"a": "NaN", "b": "-Infinity", "c": "[1, Infinity]", "d": 1500.0}
    }
    with pytest.raises(AssignmentError, match=r"payload\.x: 1e999 is out of a number's range"):
        build(["payload.x=1e999"])


def test_submit_wait_ends_0_with_the_result_and_ls_json_parses(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    done = mediajobs(
        stack, api_keys.alice_submit, "submit", "echo", "--set", "payload.x=1", "--wait", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    task_id = lines[0].split()[0]
    assert f"{task_id} succeeded" in lines
    assert json.loads(lines[-1]) == {"payload": {"x": 1}}

    listed = mediajobs(stack, api_keys.alice_submit, "ls", "--type", "echo", "-o", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    jobs = json.loads(listed.stdout)
    assert any(job["task_id"] == task_id and job["status"] == "succeeded" for job in jobs)

    result = mediajobs(stack, api_keys.alice_read, "result", task_id, cwd=tmp_path)
    assert (result.returncode, json.loads(result.stdout)) == (0, {"payload": {"x": 1}})
    table = mediajobs(stack, api_keys.alice_read, "ls", "--status", "succeeded", cwd=tmp_path)
    assert table.returncode == 0
    row = next(line for line in table.stdout.splitlines() if task_id in line)  # piped: whole, one line a job
    assert row.split()[1:3] == ["echo", "succeeded"]

    # Times in local time with their offset (the API's are UTC): here a zone 5:30 ahead.
    india = {**cli_env(stack, api_keys.alice_read), "TZ": "IST-5:30"}
    shown = run_cli(["get", task_id], india, tmp_path)
    created = next(f[1] for f in map(str.split, shown.stdout.splitlines()) if f and f[0] == "created_at")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30", created), created
    listed_there = run_cli(["ls", "--status", "succeeded"], india, tmp_path)
    assert created in next(line for line in listed_there.stdout.splitlines() if task_id in line)


def test_a_job_listing_on_a_narrow_terminal_keeps_ids_and_times_whole() -> None:
    """A task id and a creation time are never cut (only shortened where they do not fit, as `get` takes
    them back): at 140 columns every column, at 100 the optional ones
    that fit (owner goes first, then progress, then type), at 90, 80 and 60 a line per job (its type too
    where it fits; at 60 its id shortened, `d97661f7…6b39`) and its error below; text in the listing is
    never read as markup. The time is local, with its offset (the API's is UTC)."""
    task_id = "d97661f7bb294199a0cc2ff34efe6b39"
    job = {
        "task_id": task_id,
        "job_type": "video_download",
        "status": "failed",
        "owner": "alice",
        "created_at": "2026-12-05T20:46:34.123456Z",
        "progress": {"percent": 12.0},
        "error": {"type": "BlockedAddressError", "message": "connection to [bold]10.0.0.1[/bold] blocked"},
    }
    every = ["task", "id", "type", "status", "progress", "owner", "created", "error"]
    some = ["task", "id", "status", "created", "error"]
    local = "2026-12-06T02:16:34+05:30"  # the same moment where the CLI runs (here: India)
    line = [task_id, "failed", local]  # the type on the next line, before the error, where it does not fit
    short = [render.short_id(task_id), *line[1:]]  # at 60 the id shortened as `get` takes it back
    firsts = ((140, every), (100, some), (90, [*line, "video_download"]), (80, line), (60, short))
    for width, first in firsts:
        console = Console(width=width, record=True, color_system=None)
        console.print(render.jobs_table([job], console.width, zone=INDIA))
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width
        assert (task_id if width >= 80 else render.short_id(task_id)) in text
        assert local in text
        assert "[bold]10.0.0.1[/bold]" in " ".join(text.split())
        assert text.splitlines()[0].split() == first
        if width == 80:
            assert text.splitlines()[1].startswith("  video_download  BlockedAddressError")


DOWNLOADING = {
    "task_id": "6985ca767871e1b5a0d0c7c3cbb1f0aa",
    "status": "running",
    "progress": {
        "percent": 16.3,
        "downloaded_bytes": 1_700_000,
        "total_bytes": 10_500_000,
        "speed": 201_700,
        "eta": 43.2,
        "message": "downloading",
    },
}


def progress_frame(job: dict[str, Any], width: int, seconds: float = 8.0) -> str:
    """The progress line `submit --wait` draws for `job` on a terminal `width` columns wide (colours on)."""
    now = [0.0]
    line = ProgressLine(job["task_id"], clock=lambda: now[0])
    line.update(job)
    now[0] = seconds  # first shown `seconds` ago
    console = Console(width=width, record=True, force_terminal=True, color_system="truecolor")
    console.print(line)
    return console.export_text()


def test_the_progress_line_fits_the_terminal_leaving_out_what_does_not() -> None:
    """A download's line (id, status, bar, percent, bytes, speed, ETA, time, message) is one line at any
    width: at 80 columns the bytes are shortened and the time and most of the message left out; at 100 the
    full bytes and speed too; at 120 all of it. It used to wrap in mid-field ("… 1.7 MB / 10.5" / "MB ·
    200.0 k…") at 80 and 100."""
    expected = {
        60: ["6985ca76", "running", "16.3%", "1.7/10.5 MB", "ETA 43 s"],
        80: ["6985ca76", "running", "16.3%", "1.7/10.5 MB", "202 kB/s", "ETA 43 s"],
        100: ["6985ca767871", "running", "16.3%", "1.7 MB / 10.5 MB", "201.7 kB/s", "ETA 43 s", "0:00:08"],
        120: ["6985ca767871", "16.3%", "1.7 MB / 10.5 MB · 201.7 kB/s · ETA 43 s", "0:00:08 downloading"],
    }
    for width, parts in expected.items():
        text = progress_frame(DOWNLOADING, width)
        assert text.count("\n") == 1, (width, text)
        assert len(text.rstrip("\n")) <= width, (width, text)
        for part in parts:
            assert part in text, (width, part, text)
    assert "0:00:08" not in progress_frame(DOWNLOADING, 80)  # the least useful part goes first
    # a bulk job's items; an ETA under a second says so (it said "ETA 0 s")
    bulk = {**DOWNLOADING, "progress": {"percent": 30.0, "items_total": 10, "items_done": 3, "eta": 0.2}}
    assert "ETA <1 s · 3/10 items" in progress_frame(bulk, 80)
    assert "ETA 0" not in progress_frame(bulk, 80)
    done = {**DOWNLOADING, "status": "succeeded"}
    assert "100.0%" in progress_frame(done, 80)
    assert "ETA" not in progress_frame(done, 100)  # no speed or ETA once it has ended


def test_submit_with_a_priority(stack: Stack, api_keys: ApiKeys, tmp_path: Path) -> None:
    done = mediajobs(
        stack, api_keys.alice_submit, "submit", "echo", "--priority", "low", "--wait", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.split()[0]
    shown = mediajobs(stack, api_keys.alice_read, "get", task_id, "-o", "json", cwd=tmp_path)
    assert json.loads(shown.stdout)["priority"] == "low"
    refused = mediajobs(stack, api_keys.alice_submit, "submit", "echo", "--priority", "urgent", cwd=tmp_path)
    assert refused.returncode == 2
    assert "urgent" in refused.stderr


def test_a_failed_job_exits_1_and_says_why(stack: Stack, api_keys: ApiKeys, tmp_path: Path) -> None:
    failed = mediajobs(
        stack, api_keys.alice_submit, "submit", "echo", "--set", "fail_with=boom", "--wait", cwd=tmp_path
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "failed" in failed.stdout
    assert "EchoFailed: boom" in failed.stderr
    task_id = failed.stdout.split()[0]
    assert mediajobs(stack, api_keys.alice_read, "result", task_id, cwd=tmp_path).returncode == 1


def test_cancel_a_running_job_then_get_shows_it_cancelled(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    submitted = mediajobs(stack, api_keys.alice_submit, "submit", "echo", "--set", "sleep_s=30", cwd=tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    task_id = submitted.stdout.strip()
    wait_status(stack, api_keys.alice_read, task_id, "running", tmp_path)
    cancelled = mediajobs(stack, api_keys.alice_submit, "cancel", task_id, cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    said = " ".join(cancelled.stdout.split())
    assert said.startswith(f"{task_id} cancel requested: it is running and stops within about a second"), said
    wait_status(stack, api_keys.alice_read, task_id, "cancelled", tmp_path)
    shown = mediajobs(stack, api_keys.alice_read, "get", task_id, cwd=tmp_path)
    assert shown.returncode == 0
    assert "cancelled" in shown.stdout
    # piped, field by field, and no line padded to the widest value (the attempt log's ~300 characters)
    assert [line for line in shown.stdout.splitlines() if line != line.rstrip()] == []
    assert any(line.split() == ["task_id", task_id] for line in shown.stdout.splitlines())
    assert mediajobs(stack, api_keys.alice_read, "result", task_id, cwd=tmp_path).returncode == 3


def test_submit_wait_exits_3_when_the_job_is_cancelled_from_elsewhere(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    with subprocess.Popen(
        [*CLI, "submit", "echo", "--set", "sleep_s=30", "--wait"],
        env=cli_env(stack, api_keys.alice_submit),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as waiting:
        assert waiting.stdout is not None
        task_id = waiting.stdout.readline().split()[0]  # plain lines: "<task id> <status> …"
        answer = httpx.post(
            f"{stack.api_url}/jobs/{task_id}/cancel", headers=bearer(api_keys.alice_submit), timeout=10
        )
        assert answer.status_code == 202
        assert waiting.wait(timeout=30) == 3
        assert f"{task_id} cancelled" in waiting.stdout.read()


def test_exit_codes_for_a_bad_key_an_unknown_id_and_a_usage_error(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    bad_key = mediajobs(stack, "mj_wrong_key", "ls", cwd=tmp_path)
    assert bad_key.returncode == 5
    assert "401" in bad_key.stderr
    # which gateway refused which key: another gateway than meant is the usual cause
    assert f"gateway: {stack.api_url} (from MEDIAJOBS_URL)" in bad_key.stderr
    assert "API key: from MEDIAJOBS_API_KEY" in bad_key.stderr
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "dev-api-key").write_text("mj_stale_dev_key\n")
    no_env = {k: v for k, v in cli_env(stack, "").items() if k != "MEDIAJOBS_API_KEY"}
    stale = run_cli(["--url", stack.api_url, "ls"], no_env, tmp_path)
    assert stale.returncode == 5
    assert f"gateway: {stack.api_url} (from --url)" in stale.stderr
    assert f"API key: from {tmp_path / 'var' / 'dev-api-key'}" in stale.stderr
    read_only = mediajobs(stack, api_keys.alice_read, "submit", "echo", cwd=tmp_path)
    assert read_only.returncode == 5
    assert "403" in read_only.stderr
    unknown = mediajobs(stack, api_keys.alice_read, "get", "no-such-job", cwd=tmp_path)
    assert unknown.returncode == 4
    assert "404" in unknown.stderr
    assert (
        mediajobs(stack, api_keys.alice_submit, "submit", "echo", "--set", "x", cwd=tmp_path).returncode == 2
    )
    assert mediajobs(stack, api_keys.alice_submit, "ls", "--limit", "0", cwd=tmp_path).returncode == 2
    unreachable = run_cli(
        ["ls"], {**cli_env(stack, api_keys.admin), "MEDIAJOBS_URL": "http://127.0.0.1:9"}, tmp_path
    )
    assert unreachable.returncode == 6
    assert "cannot reach the gateway at http://127.0.0.1:9 (from MEDIAJOBS_URL)" in unreachable.stderr


def test_the_dev_key_file_is_found_from_a_subdirectory(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "dev-api-key").write_text(api_keys.admin + "\n")
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    env = {k: v for k, v in cli_env(stack, "").items() if k != "MEDIAJOBS_API_KEY"}
    shown = run_cli(["workers"], env, below)
    assert shown.returncode == 0, shown.stderr
    assert "janitor" in shown.stdout
    assert "downloader" in shown.stdout


def test_admin_views_queues_workers_dead_letters_and_keys(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    admin = api_keys.admin
    queues = mediajobs(stack, admin, "queues", cwd=tmp_path)
    assert queues.returncode == 0
    assert "video_downloads" in queues.stdout
    assert "default" in queues.stdout
    assert mediajobs(stack, api_keys.alice_read, "workers", cwd=tmp_path).returncode == 5

    # a key of an owner of its own, so that retrying "all" dead letters touches no other test's jobs
    created = mediajobs(stack, admin, "keys", "create", "--name", "cli", "--owner", "carol", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    carol = created.stdout.strip()
    key_id = created.stderr.split()[2]
    listed = mediajobs(stack, admin, "keys", "list", cwd=tmp_path)
    assert key_id in listed.stdout
    assert "carol" in listed.stdout
    assert mediajobs(stack, admin, "keys", "ls", cwd=tmp_path).stdout == listed.stdout  # as the top-level ls

    dying = ["--set", "fail_with=dead one", "--set", "fail_kind=transient", "--set", "retry.max_attempts=1"]
    failed = mediajobs(stack, carol, "submit", "echo", *dying, "--wait", cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    task_id = failed.stdout.split()[0]
    dead = mediajobs(stack, carol, "dead", "--filter", "EchoFlaky", cwd=tmp_path)
    assert dead.returncode == 0
    assert task_id[:8] in dead.stdout
    declined = run_cli(
        ["dead", "--retry-all", "--filter", "EchoFlaky"], cli_env(stack, carol), tmp_path, stdin="n\n"
    )
    assert declined.returncode == 0, declined.stderr  # a choice, not "the job failed" (exit 1)
    assert "Retry this job?" in declined.stdout
    assert declined.stdout.splitlines()[-1] == "nothing done"
    assert "Aborted" not in declined.stdout + declined.stderr
    unanswered = run_cli(
        ["dead", "--retry-all", "--filter", "EchoFlaky"], cli_env(stack, carol), tmp_path, stdin=""
    )
    assert unanswered.returncode == 2  # a script without --yes: a usage error, and nothing done
    assert "nothing done; --yes acts without asking" in unanswered.stderr
    retried = mediajobs(stack, carol, "dead", "--retry-all", "--filter", "EchoFlaky", "--yes", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert "retried 1 of 1" in retried.stdout

    assert mediajobs(stack, admin, "keys", "revoke", key_id, cwd=tmp_path).returncode == 0
    time.sleep(1.5)
    assert mediajobs(stack, carol, "ls", cwd=tmp_path).returncode == 5


async def _bury(stack: Stack, owner: str, count: int) -> list[str]:
    """`count` dead letters of `owner`, made directly through the store, oldest first. Each job fails again
    (and is dead again) when retried."""
    settings = CommonSettings(redis_url=stack.redis_url, media_root=stack.media_root)
    request = {
        "job_type": "echo",
        "fail_with": "again",
        "fail_kind": "transient",
        "retry": {"max_attempts": 1},
    }
    ids = [uuid.uuid4().hex for _ in range(count)]
    async with JobClient(settings) as client:
        for task_id in ids:
            await bury(
                client,
                task_id,
                owner=owner,
                request=request,
                error=ErrorInfo(type="EchoFlaky", message="again"),
            )
    return ids


def test_dead_retry_all_takes_the_oldest_letters_first(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    """Five dead letters, --limit 2: --retry-all shows and retries the two oldest and says three more match;
    once those have died again (the newest letters then), running it again takes the next two oldest, not
    the same two (that is what the API's bulk retry does too)."""
    owner = f"erin{uuid.uuid4().hex[:8]}"
    admin = bearer(api_keys.admin)
    made = httpx.post(
        f"{stack.api_url}/keys", json={"name": "erin", "owner": owner, "role": "submit"}, headers=admin
    )
    key = made.json()["key"]
    ids = asyncio.run(_bury(stack, owner, 5))

    def job(task_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{stack.api_url}/jobs/{task_id}/status", headers=bearer(key), timeout=10)
        shown: dict[str, Any] = answer.json()
        return shown

    def retried(task_id: str) -> bool:
        """Reset since it was buried: no longer dead (queued or running again), or dead again after a run."""
        now = job(task_id)
        return not now["dead"] or bool(now["attempt_log"])

    def dead_again(task_ids: list[str]) -> None:
        deadline = time.monotonic() + 30
        while not all(job(t)["dead"] and job(t)["attempt_log"] for t in task_ids):
            assert time.monotonic() < deadline, [job(t) for t in task_ids]
            time.sleep(0.2)

    listed = mediajobs(stack, key, "dead", "--limit", "2", cwd=tmp_path)  # a listing: the newest two
    assert listed.returncode == 0, listed.stderr
    assert [t[:8] in listed.stdout for t in ids] == [False, False, False, True, True]

    retry = ["dead", "--retry-all", "--limit", "2"]
    declined = run_cli(retry, cli_env(stack, key), tmp_path, stdin="n\n")
    assert declined.returncode == 0, declined.stderr
    asked = "Retry these 2 jobs (the oldest; 3 newer ones match too: run it again for them)?"
    assert asked in declined.stdout
    assert [t[:8] in declined.stdout for t in ids] == [True, True, False, False, False]  # the preview
    assert not any(retried(t) for t in ids)

    first = mediajobs(stack, key, *retry, "--yes", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "retried 2 of 2" in first.stdout
    assert "3 more match: run it again for them" in first.stdout
    assert [retried(t) for t in ids] == [True, True, False, False, False]

    dead_again(ids[:2])  # now the newest two letters
    second = mediajobs(stack, key, *retry, "--yes", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "retried 2 of 2" in second.stdout
    assert "3 more match: run it again for them" in second.stdout
    assert [retried(t) for t in ids] == [True, True, True, True, False]
    assert all(job(t)["dead"] for t in ids[:2])  # not taken a second time

    dead_again(ids[2:4])
    cleanup = httpx.post(f"{stack.api_url}/jobs/dead/purge", json={"filter": {"owner": owner}}, headers=admin)
    assert cleanup.json() == {"matched": 5, "purged": 5}


def read_until_exit(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    captured = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other end closed
                break
            captured += chunk
        elif proc.poll() is not None:
            break
    return captured


@contextlib.contextmanager
def on_a_terminal(
    args: list[str], env: dict[str, str], cwd: Path, columns: int | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The CLI with a pseudo-terminal as stdin, stdout and stderr (`columns` wide, as a terminal window
    says: COLUMNS then unset); yields the terminal end and the process."""
    leader, follower = os.openpty()
    if columns is not None:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
    try:
        with subprocess.Popen(
            [*CLI, *args], env=env, cwd=cwd, stdin=follower, stdout=follower, stderr=follower
        ) as proc:
            os.close(follower)
            try:
                yield leader, proc
            finally:
                if proc.poll() is None:  # a failed test must not leave it behind for the next one
                    proc.kill()
    finally:
        os.close(leader)


def wait_or_dump(leader: int, proc: subprocess.Popen[bytes], captured: bytes, timeout: float = 10) -> int:
    """The CLI's exit code; if it is still running after `timeout`, fail with every thread's stack.

    `cli_env` turns faulthandler on, so SIGABRT makes the process print where each thread stands."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        captured += read_until_exit(leader, proc, timeout=5)
        pytest.fail(f"the CLI did not exit; its output and stacks:\n{captured.decode(errors='replace')}")


def test_submit_wait_draws_a_progress_bar_on_a_terminal(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    env = cli_env(stack, api_keys.alice_submit, TERM="xterm-256color")
    with on_a_terminal(["submit", "echo", "--set", "sleep_s=2", "--wait"], env, tmp_path) as (leader, proc):
        raw = read_until_exit(leader, proc, timeout=30)
        assert wait_or_dump(leader, proc, raw) == 0, raw
        captured = raw.decode(errors="replace")
    assert "━" in captured  # a bar frame
    assert "%" in captured
    assert "slept" in captured
    assert "succeeded" in captured


@pytest.mark.parametrize("columns", [80, 100])
def test_a_download_followed_on_a_narrow_terminal_stays_on_one_line(
    stack: Stack, api_keys: ApiKeys, media_server: MediaServer, tmp_path: Path, columns: int
) -> None:
    """`submit video_download --wait` in an 80 (100) column terminal window: every frame of its progress
    line (bytes, speed, ETA) fits the width, so it is redrawn in place (a line that wrapped was redrawn with
    the cursor moved up, leaving "MB · 200.0 k" pieces behind). Ctrl-C stops following it: exit 130."""
    env = cli_env(stack, api_keys.alice_submit, TERM="xterm-256color")
    url = media_server.url(f"veryslow/big.mp4?cli={uuid.uuid4().hex[:8]}")  # ~25 s: still going when stopped
    args = ["submit", "video_download", "--url", url, "--wait"]
    with on_a_terminal(args, env, tmp_path, columns=columns) as (leader, proc):
        raw = b""
        deadline = time.monotonic() + 40
        while ANSI.sub("", raw.decode(errors="replace")).count("ETA") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                raw += os.read(leader, 65536)
        proc.send_signal(signal.SIGINT)
        raw += read_until_exit(leader, proc, timeout=10)
        assert wait_or_dump(leader, proc, raw) == 130, raw
    captured = raw.decode(errors="replace")
    assert "\x1b[1A" not in captured, captured  # never moved up: never more than one line
    frames = [f for f in re.split(r"[\r\n]+", ANSI.sub("", captured)) if f.strip()]
    assert max(len(frame) for frame in frames) <= columns, frames
    moving = [f for f in frames if "ETA" in f]
    assert len(moving) >= 3, frames
    assert all(re.search(r"\d+\.\d% \d.*B ?/ ?\d.*B", frame) for frame in moving), moving
    if columns >= 100:
        assert all(re.search(r"\d+ kB/s · ETA \d+ s", frame) for frame in moving), moving
    # stop the download (the CLI only stopped following it)
    headers = bearer(api_keys.alice_submit)
    running = {"status": "running", "job_type": "video_download"}
    listed = httpx.get(f"{stack.api_url}/jobs/list", params=running, headers=headers).json()["jobs"]
    shown_id = moving[0].split()[0]
    ours = [job["task_id"] for job in listed if job["task_id"].startswith(shown_id)]
    assert len(ours) == 1, (shown_id, listed)
    assert httpx.post(f"{stack.api_url}/jobs/{ours[0]}/cancel", headers=headers).status_code == 202


def test_workers_shows_columns_not_json(stack: Stack, api_keys: ApiKeys, tmp_path: Path) -> None:
    """`mediajobs workers`: a column each for service, queue, host, pid, busy slots, the jobs it runs and its
    last heartbeat (it printed each replica's JSON in a "details" column, ~400 characters a line); piped,
    one line a replica. On an 80 column terminal host, pid and busy are left out, task ids stay whole."""
    shown = mediajobs(stack, api_keys.admin, "workers", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["service", "queue", "host", "pid", "busy", "running", "jobs", "heartbeat"]
    assert "{" not in shown.stdout
    line = next(line for line in lines if line.startswith("downloader "))
    row = line.split()
    assert row[1] == "video_downloads"
    assert row[3].isdigit()  # pid
    assert re.fullmatch(r"\d+/\d+", row[4])  # busy: running of concurrency
    assert re.search(r" (idle|[0-9a-f]{32}( [0-9a-f]{32})*) +(just now|\d+ s ago)$", line), line

    task_id = "9f2c0e4b5d6a47c8b1e2f3a4b5c6d7e8"
    replicas = [
        {"service": "downloader", "instance": "h-1", "queue": "video_downloads", "host": "worker-host-01",
         "pid": 4242, "concurrency": 4, "running": [task_id, task_id.replace("9", "8")],
         "last_heartbeat": "2026-12-06T05:22:08Z", "alive": True},
        {"service": "imaging", "instance": "h-2", "queue": "image_processing", "host": "worker-host-01",
         "pid": 4243, "concurrency": 2, "running": [], "last_heartbeat": "2026-12-06T05:21:08Z",
         "alive": False},
    ]  # fmt: skip
    now = datetime.fromisoformat("2026-12-06T05:22:11Z")
    wide, narrow = Console(width=140, record=True), Console(width=80, record=True)
    wide.print(render.workers_table(replicas, wide.width, now=now))
    narrow.print(render.workers_table(replicas, narrow.width, now=now))
    everything = wide.export_text()
    assert "worker-host-01" in everything
    assert "2/4" in everything
    text = narrow.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.splitlines()[0].split() == ["service", "queue", "running", "jobs", "heartbeat"]
    assert task_id in text  # whole, on its own line under the first
    assert "3 s ago" in text
    assert "1 min ago, gone" in text


def test_queues_interval_piped_prints_a_table_per_refresh_and_stops_on_a_signal(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    """`queues -i` into a pipe (it printed nothing there: rich redraws only on a terminal): a table per
    refresh, each under its time and written at once; SIGTERM or SIGINT ends it with 0 and no traceback."""
    for stop in (signal.SIGTERM, signal.SIGINT):
        with subprocess.Popen(
            [*CLI, "queues", "-i", "0.3"],
            env=cli_env(stack, api_keys.admin),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            assert proc.stdout is not None
            assert proc.stderr is not None
            fd = proc.stdout.fileno()
            seen = b""
            deadline = time.monotonic() + 30
            while seen.count(b"queues at ") < 3 and time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    seen += os.read(fd, 65536)
            proc.send_signal(stop)
            assert proc.wait(timeout=10) == 0, (stop, proc.stderr.read())
            seen += proc.stdout.read()
            assert proc.stderr.read() == b"", stop
        text = seen.decode()
        assert text.count("queues at ") >= 3, text
        assert text.count("video_downloads") == text.count("queues at "), text  # whole tables
        stamps = re.findall(r"queues at (\S+)", text)
        assert all(datetime.fromisoformat(s).utcoffset() is not None for s in stamps), stamps


def test_ls_searches_and_filters_and_dead_purge_asks_first(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    word = f"cli{uuid.uuid4().hex[:10]}"
    dying = [
        "--set",
        f"fail_with=gone {word}",
        "--set",
        "fail_kind=transient",
        "--set",
        "retry.max_attempts=1",
    ]
    failed = mediajobs(stack, api_keys.alice_submit, "submit", "echo", *dying, "--wait", cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    task_id = failed.stdout.split()[0]

    found = mediajobs(
        stack, api_keys.alice_read, "ls", "--search", f"GONE {word}", "-o", "json", cwd=tmp_path
    )
    assert found.returncode == 0, found.stderr
    assert [job["task_id"] for job in json.loads(found.stdout)] == [task_id]
    narrowed = ["ls", "-q", word, "--queue", "default", "--since", "2020-01-01T00:00:00Z", "-o", "json"]
    assert len(json.loads(mediajobs(stack, api_keys.alice_read, *narrowed, cwd=tmp_path).stdout)) == 1
    later = ["ls", "-q", word, "--since", "2999-01-01T00:00:00Z", "-o", "json"]
    assert json.loads(mediajobs(stack, api_keys.alice_read, *later, cwd=tmp_path).stdout) == []
    assert (
        json.loads(mediajobs(stack, api_keys.bob_submit, "ls", "-q", word, "-o", "json", cwd=tmp_path).stdout)
        == []
    )
    bad = mediajobs(stack, api_keys.alice_read, "ls", "--since", "last tuesday", cwd=tmp_path)
    assert bad.returncode == 2  # a usage error, which the gateway found (422)
    assert "422" in bad.stderr

    purge = ["dead", "--purge", "--filter", "EchoFlaky", "--search", word]
    refused = mediajobs(stack, api_keys.alice_submit, *purge, "--yes", cwd=tmp_path)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    declined = run_cli(purge, cli_env(stack, api_keys.admin), tmp_path, stdin="n\n")
    assert declined.returncode == 0, declined.stderr
    assert "Delete this job?" in declined.stdout
    assert "nothing done" in declined.stdout
    purged = mediajobs(stack, api_keys.admin, *purge, "--yes", cwd=tmp_path)
    assert purged.returncode == 0, purged.stderr
    assert "purged 1 of 1" in purged.stdout
    assert mediajobs(stack, api_keys.alice_read, "get", task_id, cwd=tmp_path).returncode == 4


def test_watch_follows_a_job_to_its_end_and_exits_with_its_outcome(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    headers = bearer(api_keys.alice_submit)
    ok = httpx.post(  # long enough to still run once the CLI is up on a loaded machine (5 s was not, once)
        f"{stack.api_url}/jobs/submit", json={"job_type": "echo", "sleep_s": 10}, headers=headers, timeout=10
    ).json()
    watched = mediajobs(stack, api_keys.alice_read, "watch", ok["task_id"], cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr
    assert f"{ok['task_id']} succeeded" in watched.stdout
    assert "slept" in watched.stdout  # progress lines while it ran
    bad = httpx.post(
        f"{stack.api_url}/jobs/submit",
        json={"job_type": "echo", "fail_with": "nope"},
        headers=headers,
        timeout=10,
    ).json()
    failed = mediajobs(stack, api_keys.alice_read, "watch", bad["task_id"], cwd=tmp_path)
    assert failed.returncode == 1
    assert "EchoFailed: nope" in failed.stderr


def test_queues_interval_redraws_until_interrupted(stack: Stack, api_keys: ApiKeys, tmp_path: Path) -> None:
    env = cli_env(stack, api_keys.admin, TERM="xterm-256color")
    with on_a_terminal(["queues", "-i", "0.3"], env, tmp_path) as (leader, proc):
        captured = b""
        deadline = time.monotonic() + 30
        while captured.count(b"video_downloads") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                captured += os.read(leader, 65536)
        proc.send_signal(signal.SIGINT)
        captured += read_until_exit(leader, proc, timeout=10)
        assert wait_or_dump(leader, proc, captured) == 0, captured
    text = captured.decode(errors="replace")
    assert text.count("video_downloads") >= 3  # redrawn, not printed once
    assert "default" in text


def test_a_job_is_named_by_the_short_id_people_copy(stack: Stack, api_keys: ApiKeys, tmp_path: Path) -> None:
    """`get`, `watch`, `cancel`, ... take an id's first digits or the shortened form the dashboard and
    `ls` show (`7ffd509e…0bed`), among the caller's newest jobs; one that names no job exits 4 saying so."""
    made = mediajobs(stack, api_keys.alice_submit, "submit", "echo", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    task_id = made.stdout.strip()
    for short in (task_id[:8], f"{task_id[:8]}…{task_id[-4:]}", f"{task_id[:6]}...{task_id[-3:]}"):
        shown = mediajobs(stack, api_keys.alice_read, "get", short, "-o", "json", cwd=tmp_path)
        assert shown.returncode == 0, (short, shown.stderr)
        assert json.loads(shown.stdout)["task_id"] == task_id
    other = "0" if task_id[0] != "0" else "1"
    unknown = mediajobs(stack, api_keys.alice_read, "get", other * 8, cwd=tmp_path)
    assert unknown.returncode == 4, unknown.stderr
    assert "give the whole id" in unknown.stderr
    theirs = mediajobs(stack, api_keys.bob_submit, "get", task_id[:8], cwd=tmp_path)
    assert theirs.returncode == 4  # another owner's job is not found by its short id either
