"""`task dev`'s supervisor restarts a service process that dies, as compose's restart policy would."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.conftest import service_env
from tests.support.otlp import OtlpReceiver
from tools.dev import Supervisor
from tools.localredis import free_port


def test_a_killed_service_is_restarted(redis_url: str, tmp_path: Path, otlp: OtlpReceiver) -> None:
    env = service_env(redis_url.rsplit("/", 1)[0] + "/10", tmp_path, otlp, GATEWAY_PORT=str(free_port()))
    supervisor = Supervisor(env)
    runner = threading.Thread(target=supervisor.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while not all(p.alive() for p in supervisor.procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        janitor = next(p for p in supervisor.procs if p.name == "janitor")
        first_pid = janitor.pid
        janitor.kill()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (janitor.alive() and janitor.pid != first_pid):
            time.sleep(0.1)
        assert janitor.alive()
        assert janitor.pid != first_pid
    finally:
        supervisor.stop()
        runner.join(timeout=30)
    assert not any(p.alive() for p in supervisor.procs)
