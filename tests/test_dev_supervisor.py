"""`task dev`'s supervisor restarts a service process that dies, as compose's restart policy would."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.api_keys import Role, digest, read_keys_file
from jobcommon import CommonSettings, JobClient, keys
from jobcommon.models import JobStatus
from tests.conftest import service_env, wait_until_ready
from tests.support.otlp import OtlpReceiver
from tools.dev import Supervisor, parse_replicas, process_names, revoked_in
from tools.devkey import ensure_dev_key
from tools.localredis import DataDirInUse, LocalRedis, free_port
from tools.traces import phoenix_ui, tracing_for_dev, write_state


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


ROOT = Path(__file__).resolve().parent.parent


def _refused(data_dir: Path) -> str:
    """The DataDirInUse message a start on `data_dir` gets (a start that succeeds is stopped, and fails)."""
    other = LocalRedis(data_dir, persistent=True)
    try:
        other.start()
    except DataDirInUse as exc:
        return str(exc)
    other.stop()
    raise AssertionError(f"a second redis-server started on {data_dir}")


def _lock_is_held(data_dir: Path) -> bool:
    with (data_dir / "redis-server.lock").open("rb") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def test_task_devs_redis_server_is_restarted_with_its_data(tmp_path: Path) -> None:
    """Its services were restarted, but a redis-server that died left the whole stack on a dead Redis until
    `task dev` was restarted. Now it comes back on its port, from its AOF (every write fsynced), and the data
    directory's lock is held throughout."""
    redis = LocalRedis(tmp_path, persistent=True)
    url = redis.start()
    supervisor = Supervisor({}, services=(), redis=redis)
    runner = threading.Thread(target=supervisor.run, daemon=True)
    runner.start()
    try:
        with SyncRedis.from_url(url, socket_timeout=2) as client:
            client.set("survives", "the crash")
        assert redis.process is not None
        first_pid = redis.process.pid
        redis.process.kill()
        redis.process.wait()
        assert _lock_is_held(tmp_path)  # no server: the supervisor holds it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.2)
            with contextlib.suppress(OSError, RedisError), SyncRedis.from_url(url, socket_timeout=2) as again:
                if again.get("survives") == b"the crash":
                    break
        else:
            raise AssertionError("redis-server did not come back with its data")
        assert redis.process.pid != first_pid
        assert f"redis-server pid {redis.process.pid}, started by pid {os.getpid()}" in _refused(tmp_path)
    finally:
        supervisor.stop()
        runner.join(timeout=30)
        redis.stop()
    assert not redis.alive()
    assert not _lock_is_held(tmp_path)


def test_a_restart_that_fails_says_why_and_keeps_the_lock(tmp_path: Path) -> None:
    """A server that cannot start (here a corrupt AOF) raises with the last thing it logged; the lock the
    first start took stays held, and a later start, once the cause is gone, serves again."""
    redis = LocalRedis(tmp_path, persistent=True)
    redis.start()
    try:
        assert redis.process is not None
        redis.process.kill()
        redis.process.wait()
        (tmp_path / "appendonly.aof").write_bytes(b"*3\r\n$3\r\nSET\r\nnot a valid aof")
        with pytest.raises(RuntimeError, match=r"redis-server exited on start: .*append only file"):
            redis.start()
        assert _lock_is_held(tmp_path)
        (tmp_path / "appendonly.aof").unlink()
        redis.start()
        assert redis.alive()
    finally:
        redis.stop()
    assert not _lock_is_held(tmp_path)


def test_a_start_on_a_port_another_server_holds_fails(tmp_path: Path) -> None:
    """The start used to take any Redis answering on the port for its own (its own had exited: port taken)."""
    foreign = LocalRedis(tmp_path / "foreign")
    foreign.start()
    try:
        ours = LocalRedis(tmp_path / "ours", port=foreign.port)
        with pytest.raises(RuntimeError, match=r"exited on start: .*bind: Address already in use"):
            ours.start()
        assert not ours.alive()
        assert not _lock_is_held(tmp_path / "ours")
    finally:
        foreign.stop()


def test_a_redis_data_directory_takes_one_server_at_a_time(tmp_path: Path) -> None:
    """A second `task dev` in one checkout started a second redis-server on ./var/redis (another port), both
    appending to one AOF. Now a start on a directory another server runs on is refused, naming that server
    and what started it; a stopped one frees it, and so does the end of a server a killed `task dev` left
    running."""
    first = LocalRedis(tmp_path, persistent=True)
    first.start()
    try:
        assert first.process is not None
        said = _refused(tmp_path)
        assert f"redis-server pid {first.process.pid}, started by pid {os.getpid()}" in said
    finally:
        first.stop()
    keeper = subprocess.Popen(  # a `task dev` killed where its redis-server does not end with it (macOS)
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from tools.localredis import LocalRedis; "
            "from tools import parent_death; parent_death.disable(); "
            "r = LocalRedis(Path(sys.argv[1]), persistent=True); r.start(); "
            "print(r.process.pid, flush=True); time.sleep(120)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    with keeper:
        assert keeper.stdout is not None
        left_running = int(keeper.stdout.readline())
        keeper.kill()
    try:
        assert f"the server was left running: `kill {left_running}`" in _refused(tmp_path)
    finally:
        os.kill(left_running, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _lock_is_held(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    again = LocalRedis(tmp_path, persistent=True)
    again.start()
    again.stop()


def test_task_dev_refuses_a_taken_gateway_port_before_starting_anything(tmp_path: Path) -> None:
    """It used to start everything and restart the gateway forever ("address already in use")."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cases = ((str(port), f"cannot listen on 127.0.0.1 port {port}"), ("http", "is not a port number"))
        for value, says in cases:
            env = {**os.environ, "GATEWAY_PORT": value, "REDIS_URL": "redis://127.0.0.1:1/0"}
            ran = subprocess.run(
                [sys.executable, "-m", "tools.dev"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                cwd=ROOT,
            )
            assert ran.returncode == 1
            assert says in ran.stderr
            assert ran.stdout == ""  # nothing started, nothing announced


def _signal_masks(pid: int) -> tuple[int, int]:
    """The signals process `pid` ignores and those it catches (/proc/PID/status)."""
    fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["SigIgn"], 16), int(fields["SigCgt"], 16)


def _bit(sig: signal.Signals) -> int:
    return 1 << (int(sig) - 1)


NOHUP_DEV = (
    "import runpy, signal; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
    "runpy.run_module('tools.dev', run_name='__main__')"
)


def test_task_dev_stops_everything_when_the_stop_signal_comes_twice(redis_url: str, tmp_path: Path) -> None:
    """Ctrl-C or a closed terminal reaches `task dev` and `uv run` (or `task`), which passes it on: a second
    signal used to interrupt the stop itself (a traceback) and leave the services and Redis running. Started
    under `nohup` (SIGHUP ignored), a hang-up leaves it running."""
    db_url = redis_url.rsplit("/", 1)[0] + "/11"
    port = free_port()
    env = {**os.environ, "REDIS_URL": db_url, "GATEWAY_PORT": str(port), "AUTH": "off"}
    env["MEDIA_ROOT"] = str(tmp_path / "media")
    dev = subprocess.Popen(
        [sys.executable, "-c", NOHUP_DEV],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    children: list[str] = []
    try:
        workers = {"downloader", "metadata", "imaging", "janitor"}
        wait_until_ready(f"http://127.0.0.1:{port}", workers, "any key: AUTH=off", timeout=60)
        children = Path(f"/proc/{dev.pid}/task/{dev.pid}/children").read_text().split()
        assert len(children) == 5  # the gateway and the four workers
        ignored, caught = _signal_masks(dev.pid)
        assert ignored & _bit(signal.SIGHUP)  # nohup's: kept
        assert caught & _bit(signal.SIGTERM)
        assert caught & _bit(signal.SIGINT)
        dev.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert dev.poll() is None
        for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGINT):
            dev.send_signal(sig)
        output, _ = dev.communicate(timeout=90)
        assert "Traceback" not in output, output[-3000:]
        assert output.rstrip().endswith("dev | stopped")
        assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pid), signal.SIGKILL)
        dev.kill()
        dev.communicate()
        with SyncRedis.from_url(db_url) as redis:
            redis.flushdb()


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


def test_task_dev_replaces_its_key_once_it_was_revoked(tmp_path: Path, redis_url: str) -> None:
    """A dev key revoked through the API is never provisioned again, so `task dev` makes a new one instead of
    printing the dead one as usable; one not revoked is reused."""
    key, _, _ = ensure_dev_key(tmp_path)
    revoked = revoked_in(redis_url)
    assert ensure_dev_key(tmp_path, revoked)[:1] == (key,)  # not revoked: reused
    with SyncRedis.from_url(redis_url) as redis:
        redis.sadd(keys.REVOKED_API_KEYS, digest(key))
        try:
            new, keys_file, created = ensure_dev_key(tmp_path, revoked)
        finally:
            redis.srem(keys.REVOKED_API_KEYS, digest(key))
    assert created
    assert new != key
    assert (tmp_path / "dev-api-key").read_text().strip() == new
    (entry,) = read_keys_file(keys_file)
    assert entry.digest == digest(new)


def test_task_dev_exports_nowhere_new_without_a_running_trace_ui_or_against_the_users_otel(
    tmp_path: Path,
) -> None:
    """`task dev` adds no tracing variables when `task traces` is not running (no state file, or one left by a
    UI that no longer answers) and keeps the user's own OTLP endpoint or switch-off; it says where spans go.
    (With the UI running: tests/test_trace_ui.py.)"""
    state = tmp_path / "endpoint.json"
    env, where = tracing_for_dev({}, state)
    assert env == {}
    assert "task traces" in where
    write_state(phoenix_ui(free_port(), pid=1), state)  # nothing listens there any more
    assert tracing_for_dev({}, state) == ({}, where)
    mine = "http://collector.internal:4318"
    env, where = tracing_for_dev({"OTEL_EXPORTER_OTLP_ENDPOINT": mine}, state)
    assert (env, where) == ({}, f"traces go to {mine} (your OTEL_EXPORTER_OTLP_ENDPOINT)")
    assert tracing_for_dev({"OTEL_SDK_DISABLED": "true"}, state)[0] == {}
    assert tracing_for_dev({"OTEL_TRACES_EXPORTER": "none"}, state)[0] == {}


def test_replicas_are_parsed_and_named_apart() -> None:
    assert parse_replicas("downloader=3, imaging=2") == {"downloader": 3, "imaging": 2}
    assert process_names(("gateway", "downloader"), {"downloader": 2}) == [
        ("gateway", "gateway"),
        ("downloader", "downloader-1"),
        ("downloader", "downloader-2"),
    ]
    for bad in ("downloader", "downloader=0", "nonesuch=2", "gateway=2", "imaging=x"):
        with pytest.raises(ValueError, match=r"\S"):
            parse_replicas(bad)


async def _live_consumers(redis: Redis, service: str) -> set[str]:
    pattern = keys.alive(f"{service}-*")
    return {key.removeprefix(keys.ALIVE_PREFIX) async for key in redis.scan_iter(match=pattern)}


async def _echo(jobs: JobClient, n: int, sleep_s: float) -> str:
    created = await jobs.submit({"job_type": "echo", "payload": {"n": n}, "sleep_s": sleep_s})
    return created.job.task_id


async def test_replicas_share_the_work_and_finish_a_killed_ones_jobs(
    redis_url: str, tmp_path: Path, otlp: OtlpReceiver
) -> None:
    """`task dev -- --replicas janitor=3`: three processes in one consumer group; echo jobs spread over them,
    and the jobs a killed replica was running are finished by the others (as a second attempt)."""
    url = redis_url.rsplit("/", 1)[0] + "/12"
    redis = Redis.from_url(url, decode_responses=True)
    await redis.flushdb()
    env = service_env(url, tmp_path, otlp, CONCURRENCY="2", LIVENESS_TTL_S="2")
    supervisor = Supervisor(env, {"janitor": 3}, services=("janitor",))
    assert [p.name for p in supervisor.procs] == ["janitor-1", "janitor-2", "janitor-3"]
    runner = threading.Thread(target=supervisor.run, daemon=True)
    runner.start()
    try:
        async with JobClient(CommonSettings(redis_url=url)) as jobs:
            deadline = time.monotonic() + 30
            while len(await _live_consumers(redis, "janitor")) < 3:
                assert time.monotonic() < deadline, [p.output() for p in supervisor.procs]
                await asyncio.sleep(0.2)

            quick = [await _echo(jobs, n, 0.3) for n in range(12)]
            done = [await jobs.wait(task_id, timeout=30) for task_id in quick]
            assert {job.status for job in done} == {JobStatus.SUCCEEDED}
            assert len({job.worker for job in done}) >= 2, "work spread across replicas"

            slow = [await _echo(jobs, 100 + n, 2.5) for n in range(4)]
            deadline = time.monotonic() + 15
            running = [await jobs.get(task_id) for task_id in slow]
            while not all(job.worker for job in running):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
                running = [await jobs.get(task_id) for task_id in slow]
            victim_worker = running[0].worker
            assert victim_worker is not None
            victim = next(p for p in supervisor.procs if victim_worker.endswith(f"-{p.pid}"))
            victim.kill()
            finished = [await jobs.wait(task_id, timeout=30) for task_id in slow]
            assert {job.status for job in finished} == {JobStatus.SUCCEEDED}
            moved = [job for job, was in zip(finished, running, strict=True) if was.worker == victim_worker]
            assert moved
            assert all(job.worker != victim_worker and job.attempts == 2 for job in moved)
    finally:
        supervisor.stop()
        runner.join(timeout=30)
        await redis.flushdb()
        await redis.aclose()
    assert not any(p.alive() for p in supervisor.procs)
