"""README's "Using it" examples run as printed: the curl lines pasted into bash against a gateway (with its
port put in for 8000, as the README says), and the Python program against a janitor, with `REDIS_URL` from
the environment."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cluster import Cluster
from tests.conftest import ApiKeys, bearer, wait_until_ready
from tools.localredis import free_port

README = Path(__file__).resolve().parent.parent / "README.md"


def code_block(starts_with: str) -> str:
    """The README's fenced code block whose first line starts with `starts_with`."""
    blocks: list[str] = re.findall(
        r"^```\w*\n(.*?)^```$", README.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL
    )
    found = [block for block in blocks if block.startswith(starts_with)]
    assert len(found) == 1, f"README has {len(found)} code blocks starting with {starts_with!r}"
    return found[0]


def test_the_python_example_is_a_whole_program_that_runs(cluster: Cluster, tmp_path: Path) -> None:
    """It used to be top-level `async with` on a hard-coded localhost:6379 (another Redis than task dev's when
    that port is taken)."""
    program = code_block("# jobs_demo.py")
    ast.parse(program)  # a module as written, not statements for a REPL
    assert "6379" not in program
    cluster.start("janitor")  # runs echo jobs; nothing runs the download, which stays queued
    (tmp_path / "jobs_demo.py").write_text(program)
    env = {**os.environ, "REDIS_URL": cluster.redis_url}
    ran = subprocess.run(
        [sys.executable, "jobs_demo.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:] + cluster.logs()[-3000:]
    lines = ran.stdout.splitlines()
    assert lines[:2] == ["succeeded {'payload': {'hi': 1}}", "1000 submitted"]
    assert lines[2].startswith("{'percent': ")
    assert lines[2].endswith("'status': 'queued'}")


def test_the_curl_lines_paste_into_bash_and_run(cluster: Cluster, tmp_path: Path, api_keys: ApiKeys) -> None:
    """`<task_id>` in a pasted line is a redirection in bash; the lines now carry the id in a variable. The
    job is cancelled from here once it exists, so the event stream ends and the lines after it run."""
    if shutil.which("curl") is None:
        pytest.skip("no curl on PATH")
    lines = code_block('KEY="Authorization: Bearer $(cat var/dev-api-key)"')
    assert "<task_id>" not in lines
    port = free_port()
    cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)))
    api_url = f"http://127.0.0.1:{port}"
    wait_until_ready(api_url, set(), api_keys.admin)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "dev-api-key").write_text(api_keys.admin + "\n")
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", lines.replace("localhost:8000", f"localhost:{port}")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        admin = bearer(api_keys.admin)
        deadline = time.monotonic() + 60
        jobs: list[dict[str, str]] = []
        while not jobs and time.monotonic() < deadline:
            listed = httpx.get(f"{api_url}/jobs/list", params={"job_type": "video_download"}, headers=admin)
            jobs = listed.json()["jobs"]
            time.sleep(0.1)
        assert jobs, "the submit line made no job"
        (job,) = jobs
        httpx.post(f"{api_url}/jobs/{job['task_id']}/cancel", headers=admin).raise_for_status()
        out, err = shell.communicate(timeout=60)
    finally:
        shell.kill()
    assert shell.returncode == 0, err
    assert f'"task_id":"{job["task_id"]}"' in out  # echo "$JOB"
    assert "event: status" in out  # the event stream, to its end
    assert '"status": "cancelled"' in out
    assert out.count('"status":409') == 2  # no result of a cancelled job; it cannot be cancelled again
    assert '"owner":"alice","role":"submit"' in out  # the new key, shown once
    assert '"key":"mj_' in out
