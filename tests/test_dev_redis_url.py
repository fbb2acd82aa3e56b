"""`task dev` keeps the Redis URL it uses in var/dev-redis-url while it runs: its own redis-server is on a
random port when 6379 is taken, and clients in another shell (README's Python example) must find it."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from tools.dev import REDIS_URL_FILE, forget_redis_url, write_redis_url
from tools.localredis import free_port

ROOT = Path(__file__).resolve().parent.parent

DEV_IN = """
import sys
from pathlib import Path

import tools.dev as dev

dev.ROOT = Path(sys.argv[1])  # var/ (the redis data, the key, the URL file) under the test's directory


def run(self: object) -> None:  # instead of starting the services: say what the URL file holds, then stop
    path = dev.ROOT / "var" / dev.REDIS_URL_FILE
    print("while running:", path.read_text().strip(), oct(path.stat().st_mode & 0o777), flush=True)
    raise KeyboardInterrupt


dev.Supervisor.run = run
dev.main([])
"""


def test_task_dev_writes_the_url_of_its_own_redis_server_and_removes_it_when_it_stops(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env.update(GATEWAY_PORT=str(free_port()), AUTH="off", MEDIA_ROOT=str(tmp_path / "media"))
    ran = subprocess.run(
        [sys.executable, "-c", DEV_IN, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    started = re.search(r"redis-server on (redis://\S+)", ran.stdout)
    assert started, ran.stdout
    url = started.group(1)
    assert f"while running: {url} 0o600" in ran.stdout
    assert "export REDIS_URL=$(cat var/dev-redis-url)" in ran.stdout
    assert ran.stdout.rstrip().endswith("dev | stopped")
    assert not (tmp_path / "var" / REDIS_URL_FILE).exists()


def test_the_url_file_holds_the_given_redis_url_privately_and_only_its_writer_removes_it(
    tmp_path: Path,
) -> None:
    """REDIS_URL set by the user (maybe with a password) is written as given, readable by its owner only; a
    `task dev` stopping after another one rewrote the file leaves that one's URL."""
    mine = "redis://:secret@10.0.0.5:6380/2"
    path = write_redis_url(tmp_path / "var", mine)
    assert path.read_text() == mine + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    theirs = "redis://127.0.0.1:41234/0"
    write_redis_url(tmp_path / "var", theirs)
    forget_redis_url(path, mine)
    assert path.read_text().strip() == theirs
    forget_redis_url(path, theirs)
    assert not path.exists()
    forget_redis_url(path, theirs)  # gone already: nothing to do
