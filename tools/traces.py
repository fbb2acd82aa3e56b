"""`task traces`: a local OpenTelemetry trace UI, running until Ctrl-C; `task dev` exports to it meanwhile.

Which UI: a `jaeger` binary on PATH if there is one (Jaeger v2 with its default all-in-one configuration:
UI on 16686, OTLP/HTTP on 4318), as `task dev` prefers a `redis-server` on PATH; else Arize Phoenix
(`PHOENIX_VERSION`), installed on first use into its own virtual environment under var/phoenix/ with uv, from
the exact pins of every package in tools/phoenix-requirements.txt. It is never a dependency of the services or
of the workspace. Phoenix serves the UI, its REST/GraphQL API and OTLP/HTTP on 127.0.0.1:6006 and keeps its
SQLite database in var/traces/.

While it runs, var/traces/endpoint.json says where to send spans and how to link to one trace; `task dev`
reads it (`running_ui`) and gives every service it starts `exporter_env(ui)`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from tools.localredis import free_port, port_is_free

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
TRACES_DIR = ROOT / "var" / "traces"
STATE_FILE = TRACES_DIR / "endpoint.json"

PHOENIX_VERSION = "20.26.1"
PHOENIX_REQUIREMENTS = ROOT / "tools" / "phoenix-requirements.txt"
PHOENIX_VENV = ROOT / "var" / "phoenix" / PHOENIX_VERSION
PHOENIX_PORT = 6006
PHOENIX_GRPC_PORT = 4317
PHOENIX_LAUNCHER = ROOT / "tools" / "phoenix_loopback.py"
PHOENIX_PROJECT_ID = "UHJvamVjdDox"
"""The UI's id of Phoenix's `default` project (the GraphQL global id of project 1), which every mediajobs
process exports to: trace links are `/projects/<id>/traces/<trace id>`."""

JAEGER_UI_PORT = 16686
JAEGER_OTLP_HTTP_PORT = 4318

BSP_MAX_QUEUE_SIZE = "16384"
"""Spans a process may hold before export (the SDK's default is 2048): a burst of jobs makes more spans than
Phoenix ingests at once (~125/s), and a full queue drops spans."""

INSTALL_TIMEOUT_S = 600.0
START_TIMEOUT_S = 120.0

Kind = Literal["phoenix", "jaeger"]


class TraceUiError(RuntimeError):
    """The trace UI could not be installed or started (the message says why)."""


@dataclass(frozen=True)
class TraceUi:
    """A running trace UI: what the state file holds."""

    kind: Kind
    ui_url: str
    health_url: str
    otlp_endpoint: str
    """OTLP/HTTP base URL (the SDK appends /v1/traces)."""
    trace_url: str
    """A link to one trace, with `{trace_id}` (32 hex digits) to fill in: TRACING_UI_URL."""
    api_url: str
    pid: int

    def link(self, trace_id: str) -> str:
        return self.trace_url.replace("{trace_id}", trace_id)

    def healthy(self, timeout: float = 1.0) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False


def phoenix_ui(port: int, pid: int) -> TraceUi:
    base = f"http://127.0.0.1:{port}"
    return TraceUi(
        kind="phoenix",
        ui_url=base,
        health_url=f"{base}/healthz",
        otlp_endpoint=base,
        trace_url=f"{base}/projects/{PHOENIX_PROJECT_ID}/traces/{{trace_id}}",
        api_url=f"{base}/v1",
        pid=pid,
    )


def jaeger_ui(pid: int) -> TraceUi:
    base = f"http://127.0.0.1:{JAEGER_UI_PORT}"
    return TraceUi(
        kind="jaeger",
        ui_url=base,
        health_url=f"{base}/",
        otlp_endpoint=f"http://127.0.0.1:{JAEGER_OTLP_HTTP_PORT}",
        trace_url=f"{base}/trace/{{trace_id}}",
        api_url=f"{base}/api",
        pid=pid,
    )


def exporter_env(ui: TraceUi) -> dict[str, str]:
    """What a service needs to export its spans to `ui` and to link a job to its trace."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": ui.otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_MAX_QUEUE_SIZE": BSP_MAX_QUEUE_SIZE,
        "TRACING_UI_URL": ui.trace_url,
    }


def write_state(ui: TraceUi, path: Path = STATE_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(ui), indent=2) + "\n")
    partial.replace(path)


def read_state(path: Path = STATE_FILE) -> TraceUi | None:
    try:
        data = json.loads(path.read_text())
        return TraceUi(**data)
    except (OSError, ValueError, TypeError):
        return None


def running_ui(path: Path = STATE_FILE) -> TraceUi | None:
    """The trace UI `task traces` runs, if its state file is there and its health URL answers."""
    ui = read_state(path)
    return ui if ui is not None and ui.healthy() else None


def tracing_for_dev(environ: Mapping[str, str], path: Path = STATE_FILE) -> tuple[dict[str, str], str]:
    """What `task dev` adds to its services' environment for tracing, and a line saying where spans go.

    The trace UI of `task traces` when it runs, unless the user chose for themselves: their own
    OTEL_EXPORTER_OTLP_*ENDPOINT (or tracing turned off) wins, and any other OTEL_* or TRACING_UI_URL they set
    is kept as it is.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return {}, "tracing is off (OTEL_SDK_DISABLED=true)"
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return {}, "spans are not exported (OTEL_TRACES_EXPORTER=none)"
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if environ.get(name):
            return {}, f"traces go to {environ[name]} (your {name})"
    ui = running_ui(path)
    if ui is None:
        return {}, "traces are not exported: `uv run task traces` in another terminal runs a trace UI"
    env = {name: value for name, value in exporter_env(ui).items() if name not in environ}
    return env, f"traces go to {ui.kind} at {ui.otlp_endpoint}: open {ui.ui_url} (jobs carry a trace_url)"


# ---- Phoenix's own environment -----------------------------------------------------------------------------


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise TraceUiError("uv is not on PATH (run this through `uv run`)")
    return found


def _requirements_digest() -> str:
    """Names what an environment was made from: the pins, and how they are installed (with bytecode)."""
    return hashlib.sha256(PHOENIX_REQUIREMENTS.read_bytes() + b"\n--compile-bytecode").hexdigest()


def _run_uv(subcommand: Sequence[str], args: Sequence[str], timeout: float) -> None:
    # --no-config: the workspace's uv settings (its constraint pins) are not Phoenix's
    command = [_uv(), *subcommand, "--no-config", "--quiet", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TraceUiError(f"`{' '.join(command)}` took more than {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise TraceUiError(f"`{' '.join(command)}` failed:\n{done.stderr.strip()}")


def ensure_phoenix(venv: Path = PHOENIX_VENV, timeout: float = INSTALL_TIMEOUT_S) -> Path:
    """Phoenix's interpreter, installing Phoenix first if `venv` does not hold exactly the pinned packages.

    `uv venv` + `uv pip sync` of tools/phoenix-requirements.txt (every package pinned), compiled to bytecode;
    uv's cache spares a reinstall (a fresh clone, a new pin) the downloads.
    """
    python = venv / "bin" / "python"
    marker = venv / ".mediajobs-requirements.sha256"
    digest = _requirements_digest()
    if python.exists() and marker.exists() and marker.read_text() == digest:
        return python
    deadline = time.monotonic() + timeout
    if not python.exists():
        _run_uv(["venv"], ["--python", sys.executable, str(venv)], timeout)
    # --compile-bytecode: Phoenix imports ~14,000 modules; without .pyc files (PYTHONDONTWRITEBYTECODE, or a
    # read-only environment) every start would compile them all again
    sync = ["--compile-bytecode", "--python", str(python), str(PHOENIX_REQUIREMENTS)]
    _run_uv(["pip", "sync"], sync, max(1.0, deadline - time.monotonic()))
    marker.write_text(digest)
    return python


# ---- the server process ------------------------------------------------------------------------------------


class TraceUiProcess:
    """The trace UI as a child process (its own session), its output in a log file."""

    def __init__(self, kind: Kind, command: Sequence[str], env: Mapping[str, str], log: Path, port: int):
        self.kind: Kind = kind
        self.command = list(command)
        self.env = dict(env)
        self.log = log
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @classmethod
    def phoenix(
        cls, python: Path, working_dir: Path, *, port: int = PHOENIX_PORT, grpc_port: int | None = None
    ) -> TraceUiProcess:
        """Phoenix on 127.0.0.1:`port` (UI, API, OTLP/HTTP). Its OTLP/gRPC receiver, which mediajobs does not
        use, is held on 127.0.0.1 too by tools/phoenix_loopback.py, on `grpc_port` (4317 when free)."""
        if grpc_port is None:
            grpc_port = PHOENIX_GRPC_PORT if port_is_free(PHOENIX_GRPC_PORT) else free_port()
        env = {
            "PHOENIX_WORKING_DIR": str(working_dir),
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(grpc_port),
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",  # no fetches of its own from the internet
            "PHOENIX_LOG_MIGRATIONS": "false",
        }
        return cls(
            "phoenix", [str(python), str(PHOENIX_LAUNCHER), "serve"], env, working_dir / "phoenix.log", port
        )

    @classmethod
    def jaeger(cls, binary: str, working_dir: Path) -> TraceUiProcess:
        """Jaeger v2 with its built-in all-in-one configuration (in-memory storage), on 127.0.0.1."""
        env = {"JAEGER_LISTEN_HOST": "127.0.0.1"}
        return cls("jaeger", [binary], env, working_dir / "jaeger.log", JAEGER_UI_PORT)

    def start(self) -> None:
        if not port_is_free(self.port):
            raise TraceUiError(f"port {self.port} is taken: is a trace UI already running?")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.log.parent,
            start_new_session=True,
        )

    @property
    def ui(self) -> TraceUi:
        assert self.process is not None
        if self.kind == "jaeger":
            return jaeger_ui(self.process.pid)
        return phoenix_ui(self.port, self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> TraceUi:
        ui = self.ui
        deadline = time.monotonic() + timeout
        while not ui.healthy():
            if not self.alive():
                raise TraceUiError(f"{self.kind} exited during start-up; its log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TraceUiError(
                    f"{self.kind} not healthy after {timeout:.0f} s; its log:\n{self.log_tail()}"
                )
            time.sleep(0.25)
        return ui

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None and self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def choose(prefer_phoenix: bool = False) -> TraceUiProcess:
    """A `jaeger` binary on PATH (unless `prefer_phoenix`), else Phoenix (installed if need be)."""
    binary = None if prefer_phoenix else shutil.which("jaeger")
    if binary:
        return TraceUiProcess.jaeger(binary, TRACES_DIR)
    if not (PHOENIX_VENV / ".mediajobs-requirements.sha256").exists():
        print(f"traces | installing Arize Phoenix {PHOENIX_VERSION} into {PHOENIX_VENV.relative_to(ROOT)} …")
        started = time.monotonic()
        python = ensure_phoenix()
        print(f"traces | installed in {time.monotonic() - started:.0f} s")
    else:
        python = ensure_phoenix()
    return TraceUiProcess.phoenix(python, TRACES_DIR)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="task traces --", description="Run a local trace UI until Ctrl-C.")
    parser.add_argument("--phoenix", action="store_true", help="run Phoenix even if `jaeger` is on PATH")
    args = parser.parse_args(argv)
    if (already := running_ui()) is not None:
        print(f"traces | a trace UI is already running (pid {already.pid}): {already.ui_url}")
        return
    try:
        server = choose(prefer_phoenix=args.phoenix)
        print(f"traces | starting {server.kind} (log: {server.log.relative_to(ROOT)}) …", flush=True)
        server.start()
    except TraceUiError as exc:
        sys.exit(f"traces | {exc}")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        ui = server.wait_healthy()
        write_state(ui)
        print(f"traces | {server.kind} UI:  {ui.ui_url}", flush=True)
        print(f"traces | OTLP/HTTP: {ui.otlp_endpoint}  (task dev exports here while this runs)", flush=True)
        print(f"traces | a trace:   {ui.trace_url}", flush=True)
        print("traces | Ctrl-C stops it", flush=True)
        while server.alive():
            time.sleep(0.5)
        print(f"traces | {server.kind} exited; its log:\n{server.log_tail()}", flush=True)
        sys.exit(1)
    except TraceUiError as exc:
        sys.exit(f"traces | {exc}")
    except KeyboardInterrupt:
        print("traces | stopping…", flush=True)
    finally:
        state = read_state()
        if state is not None and server.process is not None and state.pid == server.process.pid:
            STATE_FILE.unlink(missing_ok=True)
        server.stop()


if __name__ == "__main__":
    main()
