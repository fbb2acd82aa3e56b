"""The CLI on a narrow terminal: `ls` keeps each job's first line (id, status, time) on one line, shortening
the id as the dashboard does (`7ffd509e…0bed`, which every command takes back) and then the time; the rest
of a job (its type, its error) is indented below it and wrapped between words. `watch` shows no more of an
id on a narrower terminal. Counts read right (`Retry this job?`), and `get` shows every time the same way."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from jobcommon import CommonSettings, ErrorInfo, JobClient
from mediajobs_cli import render
from mediajobs_cli.follow import ProgressLine
from tests.conftest import ApiKeys, Stack, bearer
from tests.support.dead_letters import bury
from tests.test_cli import ANSI, cli_env, on_a_terminal, read_until_exit, run_cli, wait_or_dump

BERLIN = timezone(timedelta(hours=1))
INDIA = timezone(timedelta(hours=5, minutes=30))
URL = "'http://media.example.org/holiday.mp4'"  # one word, 38 characters
ERROR = {"type": "BlockedAddressError", "message": f"refusing to fetch {URL} (10.0.0.1): a private address"}


def listed(width: int, jobs: list[dict[str, Any]]) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    console.print(render.jobs_table(jobs, console.width, zone=INDIA))
    return [line.rstrip() for line in console.export_text().splitlines()]


def a_job(n: int, status: str = "failed") -> dict[str, Any]:
    return {
        "task_id": f"{n:04x}509e4b2c4d8e9f0a1b2c3d4e0bed",
        "job_type": "video_download",
        "status": status,
        "owner": "alice",
        "created_at": "2026-12-05T20:46:34.123456Z",
        "progress": {"percent": 12.0},
        "error": ERROR,
    }


def records(lines: list[str]) -> list[list[str]]:
    """The lines of a line-per-job listing, grouped by job: a job's first line starts at column 0."""
    grouped: list[list[str]] = []
    for line in lines:
        if line.startswith(" "):
            assert grouped, lines  # never a continuation before a job's first line
            grouped[-1].append(line)
        else:
            grouped.append([line])
    return grouped


def assert_words_whole(lines: list[str], text: str, width: int) -> None:
    """Every word of `text` that fits a line of `width` (less the indent) is whole on some line."""
    on_lines = {word for line in lines for word in line.split()}
    for word in text.split():
        if len(word) <= width - 2:
            assert word in on_lines, (word, lines)


def test_a_line_per_job_keeps_each_jobs_first_line_whole_and_indents_the_rest() -> None:
    """Below ~95 columns, a line per job: its id, status and time always on its first line (they wrapped
    onto a second line below ~70 columns, and the type onto a third), the id shortened where the whole one
    does not fit (`0000509e…0bed`), then the time (to the minute, then without its year); its type and error
    below, every line of them indented (continuation lines started at column 0, like a new job), wrapped
    between words."""
    jobs = [a_job(0, "succeeded"), a_job(1, "failed")]
    whole_time = "2026-12-06T02:16:34+05:30"
    expect = {  # width: (id shown, time shown)
        90: (jobs[0]["task_id"], whole_time),
        70: (jobs[0]["task_id"], whole_time),
        60: ("0000509e…0bed", whole_time),
        50: ("0000509e…0bed", "2026-12-06 02:16"),
        40: ("0000509e…0bed", "12-06 02:16"),
    }
    for width, (shown_id, shown_time) in expect.items():
        lines = listed(width, jobs)
        assert max(len(line) for line in lines) <= width, (width, lines)
        grouped = records(lines)
        assert len(grouped) == 2, (width, lines)
        first = grouped[0][0]
        assert first.split()[:3] == [shown_id, "succeeded", *shown_time.split()[:1]], (width, lines)
        assert shown_time in first, (width, lines)
        assert grouped[1][0].startswith(shown_id.replace("0000", "0001", 1)), (width, lines)
        for record in grouped:
            assert all(line.startswith("  ") for line in record[1:]), (width, lines)
            assert_words_whole(record, f"video_download {ERROR['type']}: {ERROR['message']}", width)
    # narrower still: the id and status stay on the first line, the time goes below (whole where it fits)
    for width in (30, 24):
        lines = listed(width, jobs)
        assert max(len(line) for line in lines) <= width, (width, lines)
        grouped = records(lines)
        assert [record[0].split() for record in grouped] == [
            ["0000509e…0bed", "succeeded"],
            ["0001509e…0bed", "failed"],
        ], (width, lines)
        assert any("02:16" in line for line in grouped[0][1:]), (width, lines)


def test_a_job_listing_table_wraps_its_errors_between_words() -> None:
    """At 120 columns the error column was narrower than a URL in the error, which was split mid-word
    (`…exampl` / `e.org'`): optional columns give way first, until the column holds its longest word (up to
    ERROR_WORD_ROOM characters); only longer words are folded."""
    for width in (120, 140):
        lines = listed(width, [a_job(0), a_job(1, "succeeded")])
        assert max(len(line) for line in lines) <= width, (width, lines)
        assert lines[0].split()[:2] == ["task", "id"], lines  # still a table
        assert sum(URL in line for line in lines) == 2, (width, lines)  # whole, once a job
        assert sum("http" in line or "mp4" in line for line in lines) == 2, (width, lines)  # not in pieces
    long_word = "x" * 200
    lines = listed(120, [{**a_job(0), "error": {"type": "E", "message": long_word}}])
    assert max(len(line) for line in lines) <= 120, lines
    assert "".join(line.split()[-1] for line in lines[2:]).endswith(long_word), lines  # folded, all of it


def test_watch_shows_no_more_of_an_id_on_a_narrower_terminal() -> None:
    """The progress line's id was 12 characters at 120 columns, 8 at 80 and 60, then 12 again at 40 and 30
    (the other fields had gone, leaving room): now the narrower the terminal, never the longer the id."""
    task_id = "6985ca767871e1b5a0d0c7c3cbb1f0aa"
    for progress in (
        {"percent": 16.3, "downloaded_bytes": 1_700_000, "total_bytes": 10_500_000, "speed": 2e5, "eta": 43},
        {"percent": 30.0, "message": "working"},
        {},
    ):
        shown = []
        for width in range(140, 19, -5):
            line = ProgressLine(task_id, clock=lambda: 0.0)
            line.update({"task_id": task_id, "status": "running", "progress": progress})
            console = Console(width=width, record=True, color_system=None)
            console.print(line)
            text = console.export_text()
            assert text.count("\n") == 1, (width, text)
            assert len(text.rstrip("\n")) <= width, (width, text)
            first = text.split()[0]
            assert task_id.startswith(first), (width, text)
            shown.append(len(first))
        assert shown == sorted(shown, reverse=True), (progress, shown)
        assert (shown[0], shown[-1]) == (12, 8), shown


def test_a_job_shows_every_time_in_it_the_same_way() -> None:
    """`get ID`: its own times were local with their offset, but those in its progress, errors and attempt
    log were UTC (`…Z`). Now all of them are local; what was submitted (`request`) is shown as sent."""
    job = {
        "task_id": "7ffd509e4b2c4d8e9f0a1b2c3d4e0bed",
        "status": "running",
        "created_at": "2026-12-05T20:46:34.5Z",
        "started_at": "2026-12-05T20:46:35Z",
        "progress": {"percent": 40.0, "message": "working", "updated_at": "2026-12-05T20:47:01.25Z"},
        "errors": [{"attempt": 1, "type": "E", "message": "m", "at": "2026-12-05T20:46:50Z"}],
        "attempt_log": [
            {
                "attempt": 1,
                "queued_at": "2026-12-05T20:46:34Z",
                "started_at": "2026-12-05T20:46:35Z",
                "finished_at": "2026-12-05T20:46:50Z",
                "outcome": "retry",
            },
            {"attempt": 2, "queued_at": "2026-12-05T20:46:55+00:00", "finished_at": None},
        ],
        "request": {"job_type": "echo", "run_at": "2026-12-05T20:46:30Z"},
    }
    console = Console(width=400, record=True, color_system=None)
    console.print(render.job_table(job, zone=BERLIN))
    text = console.export_text()
    for local in (
        "2026-12-05T21:46:34+01:00",  # created_at
        '"updated_at": "2026-12-05T21:47:01+01:00"',
        '"at": "2026-12-05T21:46:50+01:00"',
        '"queued_at": "2026-12-05T21:46:34+01:00"',
        '"finished_at": "2026-12-05T21:46:50+01:00"',
        '"queued_at": "2026-12-05T21:46:55+01:00"',
        '"finished_at": null',
    ):
        assert local in text, (local, text)
    shown_times = re.findall(r"\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)", text)
    assert shown_times, text
    assert [t for t in shown_times if not t.endswith("+01:00")] == ["2026-12-05T20:46:30Z"], text  # request


async def _bury(stack: Stack, owner: str, count: int, error: ErrorInfo) -> list[str]:
    settings = CommonSettings(redis_url=stack.redis_url, media_root=stack.media_root)
    request = {"job_type": "echo", "fail_with": "again", "retry": {"max_attempts": 1}}
    ids = [uuid.uuid4().hex for _ in range(count)]
    async with JobClient(settings) as client:
        for task_id in ids:
            await bury(client, task_id, owner=owner, request=request, error=error)
    return ids


def _key_of_new_owner(stack: Stack, api_keys: ApiKeys, name: str) -> tuple[str, str]:
    owner = f"{name}{uuid.uuid4().hex[:8]}"
    made = httpx.post(
        f"{stack.api_url}/keys",
        json={"name": name, "owner": owner, "role": "submit"},
        headers=bearer(api_keys.admin),
        timeout=10,
    )
    assert made.status_code in (200, 201), made.text
    return owner, str(made.json()["key"])


def test_ls_on_a_60_column_terminal_and_the_short_id_it_shows(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    """`mediajobs ls` in a 60-column terminal window against the gateway: each job's first line holds its
    shortened id, status and whole time; its type and error follow, indented; `get` takes the id shown."""
    owner, key = _key_of_new_owner(stack, api_keys, "nina")
    ids = asyncio.run(_bury(stack, owner, 2, ErrorInfo(**ERROR)))
    try:
        env = {**cli_env(stack, key), "TZ": "IST-5:30"}
        with on_a_terminal(["ls", "--limit", "4"], env, tmp_path, columns=60) as (leader, proc):
            raw = read_until_exit(leader, proc, timeout=30)
            assert wait_or_dump(leader, proc, raw) == 0, raw
        lines = [line.rstrip() for line in ANSI.sub("", raw.decode()).replace("\r\n", "\n").splitlines()]
        lines = [line for line in lines if line]
        assert max(len(line) for line in lines) <= 60, lines
        grouped = records(lines)
        assert len(grouped) == 2, lines
        for record, task_id in zip(grouped, reversed(ids), strict=True):  # newest first
            shown_id, status, created = record[0].split()[:3]
            assert (shown_id, status) == (f"{task_id[:8]}…{task_id[-4:]}", "failed"), lines
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30", created), lines
            assert all(line.startswith("  ") for line in record[1:]), lines
            assert_words_whole(record, f"echo {ERROR['type']}: {ERROR['message']}", 60)
            got = run_cli(["get", shown_id, "-o", "json"], cli_env(stack, key), tmp_path)
            assert got.returncode == 0, got.stderr
            assert json.loads(got.stdout)["task_id"] == task_id
    finally:
        _purge(stack, api_keys, ids)


def _purge(stack: Stack, api_keys: ApiKeys, ids: list[str]) -> None:
    """Remove the test's dead jobs, whatever the test left."""
    httpx.post(
        f"{stack.api_url}/jobs/dead/purge",
        json={"task_ids": ids},
        headers=bearer(api_keys.admin),
        timeout=10,
    )


def test_dead_retry_all_counts_one_job_as_one(stack: Stack, api_keys: ApiKeys, tmp_path: Path) -> None:
    """It asked "Retry these 1 jobs?" and said "1 newer ones match too", "1 more match"."""
    owner, key = _key_of_new_owner(stack, api_keys, "olga")
    ids = asyncio.run(_bury(stack, owner, 2, ErrorInfo(type="EchoFlaky", message="again")))
    try:
        env = cli_env(stack, key)
        declined = run_cli(["dead", "--retry-all", "--limit", "1"], env, tmp_path, stdin="n\n")
        assert declined.returncode == 0, declined.stderr
        asked = "Retry this job (the oldest; 1 newer one matches too: run it again for it)?"
        assert asked in declined.stdout, declined.stdout
        assert "nothing done" in declined.stdout
        purge = ["dead", "--purge", "--limit", "2"]
        admin = run_cli(purge, cli_env(stack, api_keys.admin), tmp_path, stdin="n\n")
        assert admin.returncode == 0, admin.stderr
        assert re.search(r"Delete these \d+ jobs", admin.stdout), admin.stdout  # many: as it was
        done = run_cli(["dead", "--retry-all", "--limit", "1", "--yes"], env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "retried 1 of 1" in done.stdout
        assert "1 more matches: run it again for it" in done.stdout, done.stdout
        last = run_cli(["dead", "-q", ids[1], "--retry-all"], env, tmp_path, stdin="n\n")
        assert last.returncode == 0, last.stderr
        assert "Retry this job?" in last.stdout, last.stdout
    finally:
        _purge(stack, api_keys, ids)
