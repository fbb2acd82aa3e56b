"""What the CLI shows of data it does not control (job errors, URLs, titles, file names, owners, key and
schedule names, a worker's messages): exactly what it reads. Rich markup in it (`[generic] clip: …`, a yt-dlp
error, lost its `[generic]`) is shown, not applied; control characters (an ANSI sequence that clears the
screen, a carriage return that overwrites the line, C1 controls), bidi overrides and zero-width characters
are shown as escapes; none of it, nor a very long word, moves a table's columns or reaches the terminal as
anything but text."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import unicodedata
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.cells import cell_len
from rich.console import Console, RenderableType

from jobcommon import CommonSettings, ErrorInfo, JobClient
from mediajobs_cli import render
from mediajobs_cli.api import Event
from mediajobs_cli.follow import ProgressLine, follow_plain
from mediajobs_cli.safe_text import clean, json_text
from tests.conftest import ApiKeys, Stack, bearer
from tests.support.dead_letters import bury
from tests.test_cli_signals import started

SCRIPT = str(Path(sys.executable).parent / "mediajobs")
HOSTILE = {
    "markup": "[generic] clip: [bold]bold?[/bold] [/] [link=https://evil.example]click[/link] [red]",
    "ansi": "\x1b[2J\x1b[Hcleared \x1b]0;pwned\x07 \x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "controls": "bell\x07 back\x08space \rreturn vt\x0b ff\x0c del\x7f c1\x9b2J nul\x00 sep\u2028end",
    "bidi": "\u202egnp.exe \u2066isolate\u2069 zero\u200bwidth bom\ufeff family👨\u200d👩\u200d👧",
    "surrogate": "lone \ud800 half",
    "long": "x" * 3000,
    "lines": "first line\nsecond\r\nthird\ttabbed",
    "wide": "東京タワー ページ",
}
SHOWN = {
    "markup": "[generic] clip: [bold]bold?[/bold] [/] [link=https://evil.example]click[/link] [red]",
    "ansi": "\\x1b[2J\\x1b[Hcleared \\x1b]0;pwned\\x07",
    "controls": "bell\\x07 back\\x08space",
    "bidi": "\\u202egnp.exe \\u2066isolate\\u2069 zero\\u200bwidth bom\\ufeff family👨\\u200d👩",
    "surrogate": "lone \\ud800 half",
    "lines": "first line second third tabbed",
    "wide": "東京タワー ページ",
}
"""How each reads in a one-line cell."""
SGR = re.compile(r"\x1b\[[0-9;]*m")
ANY_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
VERTICALS = frozenset("│┃")
TASK_ID = "7ffd509e4b2c4d8e9f0a1b2c3d4e0bed"


def on_a_terminal(renderable: RenderableType, width: int) -> str:
    """What a colour terminal `width` columns wide receives."""
    out = io.StringIO()
    Console(file=out, width=width, force_terminal=True, color_system="truecolor").print(renderable)
    return out.getvalue()


def assert_plain_text(raw: str) -> str:
    """Nothing in `raw` is a terminal control but colours (SGR) and line ends; the text without them."""
    text = SGR.sub("", raw)
    assert "\x1b" not in text, ascii(text[text.index("\x1b") - 40 :][:120])
    unshown = {ch for ch in text if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")}
    assert not unshown, [ascii(ch) for ch in unshown]
    return text


def assert_lined_up(text: str, width: int) -> list[str]:
    """Every line at most `width` cells, and a bordered table's column borders in the same place on each."""
    lines = text.rstrip("\n").split("\n")
    assert max(cell_len(line) for line in lines) <= width, max(lines, key=cell_len)
    borders = {
        tuple(cell_len(line[:i]) for i, ch in enumerate(line) if ch in VERTICALS)
        for line in lines
        if VERTICALS & set(line)
    }
    assert len(borders) <= 1, sorted(borders)
    return lines


def one_line(text: str) -> str:
    return " ".join(text.split())


def compact(text: str) -> str:
    """`text` without blanks and table borders: what a cell says, however it was wrapped."""
    return "".join(text.replace("│", "").replace("┃", "").split())


def job(**changes: Any) -> dict[str, Any]:
    base = {
        "task_id": TASK_ID,
        "job_type": "video_download",
        "status": "failed",
        "owner": "alice",
        "created_at": "2026-12-05T20:46:34Z",
        "progress": {"percent": 12.0, "message": "downloading"},
        "request": {"job_type": "video_download", "url": "http://127.0.0.1/x.mp4"},
        "error": {"type": "DownloadError", "message": "boom"},
    }
    return {**base, **changes}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_safe_text_shows_every_character_as_it_reads(kind: str) -> None:
    value = HOSTILE[kind]
    shown = clean(value)
    assert_plain_text(shown)
    if kind in SHOWN:
        assert SHOWN[kind] in shown
    if "\n" in value:
        assert "\n" in clean(value, lines=True)
    parsed = json.loads(json_text({"v": value}))  # JSON for a person: parses back to the very value
    assert parsed == {"v": value}
    assert_plain_text(json_text({"v": value}).replace("\n", " "))


def test_writing_that_needs_a_joiner_keeps_it() -> None:
    """Persian's non-joiner between Arabic letters and a joiner next to a virama take no room and are part of
    the text (the gateway allows them in names): kept. Between Latin letters one hides text: escaped."""
    for word in ("می\u200cخواهم", "क्\u200dष"):
        assert clean(word) == word
    assert clean("pay\u200cpal") == "pay\\u200cpal"


@pytest.mark.parametrize("width", [400, 100, 80, 60])
def test_dead_letters_show_their_errors_as_they_read(width: int) -> None:
    """The reported bug: `mediajobs dead` printed a yt-dlp error `[generic] clip: …` as ` clip: …`."""
    letters = [
        {"job": job(task_id=f"{i:04x}{TASK_ID[4:]}", error={"type": "DownloadError", "message": message}),
         "reason": "RetriesExhausted"}
        for i, message in enumerate(HOSTILE.values())
    ]  # fmt: skip
    text = assert_plain_text(on_a_terminal(render.dead_table(letters, width), width))
    assert_lined_up(text, width)
    for i in range(len(letters)):
        assert f"{i:04x}{TASK_ID[4:]}" in text  # every id whole
    for kind, shown in SHOWN.items():
        assert compact(shown) in compact(text), (kind, shown)
    assert "x" * 3000 in compact(text)  # folded, not cut


def test_keys_schedules_queues_and_workers_show_names_as_they_read() -> None:
    hostile = " ".join(HOSTILE[k] for k in ("markup", "ansi", "controls", "bidi", "surrogate", "lines"))
    keys = [
        {
            "id": "k1",
            "name": hostile,
            "owner": "[red]mallory",
            "role": "admin",
            "created_at": "2026-01-01T00:00:00Z",
        }
    ]
    schedules = [
        {
            "name": hostile,
            "cron": "[bold]* * * * *",
            "timezone": "\x1b[2J",
            "next_run_at": "\x1b]0;x\x07",
            "last_run_at": None,
            "runs": 1,
            "missed": 0,
            "request": {"job_type": "echo", "title": hostile},
            "owner": "[/]",
            "source": "file",
        },
    ]
    queues = {hostile: {"length": 1, "lag": "[red]2", "pending": 0, "consumers": 1, "workers": 0}}
    replicas = [
        {"service": hostile, "instance": "i", "queue": "[bold]q", "host": "\x1b[31mred", "pid": 1,
         "concurrency": 2, "running": [TASK_ID, "\x1b[2J"], "last_heartbeat": "2026-12-06T05:22:08Z",
         "alive": False},
    ]  # fmt: skip
    now = datetime.fromisoformat("2026-12-06T05:22:11Z")
    tables: dict[str, Callable[[int], RenderableType]] = {
        "keys": lambda width: render.keys_table(keys),
        "schedules": lambda width: render.schedules_table(schedules),
        "queues": lambda width: render.queues_table(queues, title="queues at now"),
        "workers": lambda width: render.workers_table(replicas, width, now=now),
    }
    shown = {}
    for name, table in tables.items():
        for width in (400, 120):
            assert_lined_up(assert_plain_text(on_a_terminal(table(width), width)), width)
        shown[name] = assert_plain_text(on_a_terminal(table(2000), 2000))  # every row on one line
        for kind in ("markup", "ansi", "controls", "bidi", "surrogate", "lines"):
            assert SHOWN[kind] in shown[name], (name, kind)
    assert "[red]mallory" in shown["keys"]
    assert "[bold]* * * * * (\\x1b[2J)" in shown["schedules"]
    assert "[/]" in shown["schedules"]
    assert "\\x1b]0;x\\x07" in shown["schedules"]
    assert "\\x1b[31mred" in shown["workers"]
    assert "[bold]q" in shown["workers"]
    assert "0 (no workers)" in shown["queues"]
    assert "[red]2" in shown["queues"]


@pytest.mark.parametrize("width", [200, 100, 60])
def test_a_job_listing_and_a_job_show_what_they_hold_as_it_reads(width: int) -> None:
    jobs = [
        job(task_id=f"{i:04x}{TASK_ID[4:]}", owner=f"[bold]o{i}", error={"type": "[red]E", "message": value})
        for i, value in enumerate(HOSTILE.values())
    ]
    text = assert_plain_text(on_a_terminal(render.jobs_table(jobs, width), width))
    assert_lined_up(text, width)
    ids = [f"{i:04x}{TASK_ID[4:]}" for i in range(len(jobs))]
    shown_ids = ids if width >= 100 else [render.short_id(task_id) for task_id in ids]  # as `get` takes them
    assert all(task_id in text for task_id in shown_ids)
    for kind, shown in SHOWN.items():
        assert compact(f"[red]E: {shown}") in compact(text), (kind, shown)
    if width == 200:
        assert "[bold]o1" in text
    one = job(
        title=HOSTILE["markup"],
        url="http://127.0.0.1/[bold]x\x1b[2J",
        error={"type": "E", "message": HOSTILE["ansi"] + HOSTILE["bidi"]},
        request={"job_type": "echo", "payload": {"title": HOSTILE["controls"] + HOSTILE["surrogate"]}},
        progress={"message": HOSTILE["long"]},
    )
    text = assert_plain_text(on_a_terminal(render.job_table(one), width))
    assert_lined_up(text, width)
    assert compact(SHOWN["markup"]) in compact(text)
    assert compact('"message": "\\u001b[2J\\u001b[Hcleared \\u001b]0;pwned\\u0007') in compact(text)  # JSON
    assert compact("\\u202egnp.exe \\u2066isolate\\u2069 zero\\u200bwidth bom\\ufeff") in compact(text)
    assert compact('"title": "bell\\u0007 back\\bspace \\rreturn') in compact(text)
    assert "x" * 3000 in compact(text)  # the long message folded, not cut
    assert "http://127.0.0.1/[bold]x\\x1b[2J" in compact(text)


@pytest.mark.parametrize("width", [120, 80, 60])
def test_the_progress_line_shows_a_workers_message_as_it_reads(width: int) -> None:
    for value in HOSTILE.values():
        line = ProgressLine(TASK_ID, clock=lambda: 0.0)
        line.update(job(status="running", progress={"percent": 50.0, "message": value}))
        text = assert_plain_text(on_a_terminal(line, width))
        lines = text.rstrip("\n").split("\n")
        assert len(lines) == 1, lines  # one line, whatever the message holds
        assert cell_len(lines[0]) <= width


def test_piped_progress_lines_and_json_show_it_as_it_reads() -> None:
    out = io.StringIO()
    console = Console(file=out, width=10_000, force_terminal=False)
    events = [Event("progress", job(status="running", progress={"percent": float(i), "message": value}))
              for i, value in enumerate(HOSTILE.values())]  # fmt: skip
    follow_plain(events, console)
    lines = assert_plain_text(out.getvalue()).rstrip("\n").split("\n")
    assert len(lines) == len(HOSTILE)  # one line per change, none split by a message's line breaks
    assert SHOWN["markup"] in lines[0]
    assert SHOWN["ansi"] in lines[1]
    value = {"title": " ".join(HOSTILE.values()), "file": "東京\u202e.mp4"}
    raw = on_a_terminal_json(value)
    assert json.loads(assert_plain_text(raw)) == value  # coloured, and what it says parses back
    assert "東京" in raw  # letters as they are


def on_a_terminal_json(value: Any) -> str:
    out = io.StringIO()
    render.print_json(Console(file=out, width=100, force_terminal=True, color_system="truecolor"), value)
    return out.getvalue()


def cli_env(stack: Stack, key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAJOBS_")}
    return {**env, "MEDIAJOBS_URL": stack.api_url, "MEDIAJOBS_API_KEY": key, "COLUMNS": "120"}


def run(stack: Stack, key: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        env=cli_env(stack, key),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def on_the_terminal(stack: Stack, key: str, *args: str, cwd: Path) -> tuple[int, str]:
    """Its exit code and what a terminal 120 columns wide received."""
    with started([SCRIPT, *args], cli_env(stack, key), cwd, terminal=True) as running:
        code = running.exit_code()
    return code, running.text


def test_the_cli_shows_hostile_errors_names_and_titles_as_they_read(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    """Against the running system: dead letters whose errors hold markup, ANSI sequences and bidi overrides
    (as a yt-dlp error or a hostile page's title can), a key whose name holds markup. `dead`, `ls`, `get`,
    `watch` and `keys list`, piped and on a terminal, show each as it reads."""
    owner = f"mallory{uuid.uuid4().hex[:8]}"
    admin = bearer(api_keys.admin)
    name = f"[bold]{owner}[/bold] key [link=https://evil.example]x[/link]"
    made = httpx.post(
        f"{stack.api_url}/keys", json={"name": name, "owner": owner, "role": "submit"}, headers=admin
    )
    assert made.status_code in (200, 201), made.text
    key = made.json()["key"]
    messages = {
        "[generic] clip: HTTP Error 404: Not Found": "[generic] clip: HTTP Error 404: Not Found",
        "\x1b[2J\x1b[Hgone\x1b]0;pwned\x07": "\\x1b[2J\\x1b[Hgone\\x1b]0;pwned\\x07",
        "\u202egnp.exe \rover\u200bwrite": "\\u202egnp.exe over\\u200bwrite",
    }
    ids = [uuid.uuid4().hex for _ in messages]

    async def dead_letters() -> None:
        settings = CommonSettings(redis_url=stack.redis_url, media_root=stack.media_root)
        async with JobClient(settings) as client:
            for task_id, message in zip(ids, messages, strict=True):
                request = {"job_type": "echo", "fail_with": "again"}
                error = ErrorInfo(type="[red]DownloadError", message=message)
                await bury(client, task_id, owner=owner, request=request, error=error)

    asyncio.run(dead_letters())
    try:
        for args in (["dead"], ["ls"]):
            piped = run(stack, key, *args, cwd=tmp_path)
            assert piped.returncode == 0, piped.stderr
            code, shown = on_the_terminal(stack, key, *args, cwd=tmp_path)
            assert code == 0, shown
            for output, width in ((piped.stdout, 10_000), (ANY_ESCAPE.sub("", shown), 120)):
                text = assert_plain_text(output.replace("\r\n", "\n"))
                assert_lined_up(text, width)
                assert all(task_id in text for task_id in ids), (args, text)
                for expected in messages.values():
                    assert compact(f"[red]DownloadError: {expected}") in compact(text) or (
                        args == ["dead"] and compact(expected) in compact(text)
                    ), (args, expected, text)
            assert "[generic] clip: HTTP Error 404" in one_line(piped.stdout)
        got = run(stack, key, "get", ids[1], cwd=tmp_path)
        assert got.returncode == 0, got.stderr
        assert "\\u001b[2J\\u001b[Hgone" in assert_plain_text(got.stdout)  # the error, as JSON
        watched = run(stack, key, "watch", ids[2], cwd=tmp_path)
        assert watched.returncode == 1, watched.stderr
        said = assert_plain_text(watched.stderr)
        assert "[red]DownloadError: \\u202egnp.exe over\\u200bwrite" in one_line(said), said
        listed = run(stack, api_keys.admin, "keys", "list", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert name in listed.stdout
    finally:
        httpx.post(f"{stack.api_url}/jobs/dead/purge", json={"task_ids": ids}, headers=admin, timeout=10)
        httpx.delete(f"{stack.api_url}/keys/{made.json()['id']}", headers=admin, timeout=10)
