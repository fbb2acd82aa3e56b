"""A job named by the id people copy: its first digits, `7ffd509e…0bed`, and (as the dashboard accepts it)
`7ffd509e…` with nothing after the ellipsis: the CLI reads every form the gateway's search reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mediajobs_cli.api import Api, ApiError
from mediajobs_cli.config import Config
from mediajobs_cli.exit_codes import ExitCode
from tests.conftest import ApiKeys, Stack

ONE = "7ffd509e4b2c4d8e9f0a1b2c3d4e0bed"
TWO = "7ffd509e00000000000000000000beef"
OTHER = "c0ffee00111122223333444455556666"
SCRIPT = str(Path(sys.executable).parent / "mediajobs")


def api_over(task_ids: list[str], asked: list[str]) -> Api:
    """An Api whose gateway lists `task_ids` as the caller's newest jobs (what it was asked: in `asked`)."""

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json={"jobs": [{"task_id": t} for t in task_ids]})

    api = Api(Config(url="http://gateway.test", api_key=None))
    api._http.close()
    api._http = httpx.Client(base_url="http://gateway.test", transport=httpx.MockTransport(answer))
    return api


@pytest.mark.parametrize(
    "given",
    [
        "7ffd509e4b…",
        "7ffd509e4b...",
        "7ffd509e4b..",
        " 7FFD509E4B… ",
        "7ffd509e4b…0bed",
        "7ffd…e0bed",
        "7ffd509e4b",
    ],
)
def test_a_short_id_with_or_without_its_tail_names_the_one_job(given: str) -> None:
    asked: list[str] = []
    with api_over([OTHER, ONE, TWO], asked) as api:
        assert api.task_id(given) == ONE
    assert asked == ["/jobs/list"]


def test_an_ellipsis_with_nothing_after_it_matching_several_jobs_says_which() -> None:
    with api_over([ONE, TWO, OTHER], []) as api, pytest.raises(ApiError) as raised:
        api.task_id("7ffd509e…")
    assert raised.value.code is ExitCode.USAGE
    assert ONE in str(raised.value)
    assert TWO in str(raised.value)


def test_a_whole_id_copied_with_its_ellipsis_is_that_id_and_too_long_a_form_is_no_id() -> None:
    asked: list[str] = []
    with api_over([ONE], asked) as api:
        assert api.task_id(f"{ONE}…") == ONE
        assert api.task_id(f"{ONE}...") == ONE
        too_long = f"{ONE[:30]}…{ONE[-4:]}"  # 34 digits: no id is that long, whatever overlaps
        assert api.task_id(too_long) == too_long  # sent as it is: the gateway says it is no job
        assert api.task_id("7ff…") == "7ff…"  # fewer than 4 digits: no short id
    assert asked == []


def test_the_cli_finds_a_job_by_its_first_digits_and_an_ellipsis(
    stack: Stack, api_keys: ApiKeys, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAJOBS_")}
    env |= {"MEDIAJOBS_URL": stack.api_url, "MEDIAJOBS_API_KEY": api_keys.alice_submit}

    def mediajobs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCRIPT, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
        )

    made = mediajobs("submit", "echo")
    assert made.returncode == 0, made.stderr
    task_id = made.stdout.strip()
    for short in (f"{task_id[:10]}…", f"{task_id[:10]}...", f"{task_id[:10]}…{task_id[-4:]}"):
        shown = mediajobs("get", short, "-o", "json")
        assert shown.returncode == 0, (short, shown.stderr)
        assert json.loads(shown.stdout)["task_id"] == task_id
