"""`task dev`'s supervisor restarts a service process that dies, as compose's restart policy would."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

from gateway.api_keys import Role, digest, read_keys_file
from tests.conftest import service_env
from tests.support.otlp import OtlpReceiver
from tools.dev import Supervisor
from tools.devkey import ensure_dev_key
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


def test_task_dev_makes_one_private_admin_key_and_reuses_it(tmp_path: Path) -> None:
    """`task dev`'s first start writes a random admin key (0600) and an API_KEYS_FILE holding only its
    digest, which the gateway reads as the admin `dev`; later starts reuse the same key."""
    key, keys_file, created = ensure_dev_key(tmp_path)
    assert created
    assert key.startswith("mj_")
    assert len(key) >= 40
    assert stat.S_IMODE((tmp_path / "dev-api-key").stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert key not in keys_file.read_text()
    (entry,) = read_keys_file(keys_file)
    assert (entry.owner, entry.role, entry.digest) == ("dev", Role.ADMIN, digest(key))
    again, _, created_again = ensure_dev_key(tmp_path)
    assert (again, created_again) == (key, False)
