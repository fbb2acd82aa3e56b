"""A private mediajobs deployment for tests that kill things: its own Redis database, its own processes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from jobcommon import CommonSettings
from tests.conftest import service_env
from tests.support.otlp import OtlpReceiver
from tools.procs import ServiceProcess

START_LINE = re.compile(r"start job=(\w+) .* worker=(\S+)")


@dataclass
class Cluster:
    redis_url: str
    media_root: Path
    otlp: OtlpReceiver
    procs: list[ServiceProcess] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)

    @property
    def settings(self) -> CommonSettings:
        return CommonSettings(redis_url=self.redis_url, media_root=self.media_root, progress_interval_s=0.1)

    def start(self, module: str, *args: str, **env: str) -> ServiceProcess:
        """Start `python -m module *args` with this cluster's environment plus `env`."""
        proc = ServiceProcess(
            module, service_env(self.redis_url, self.media_root, self.otlp, **env), args=args
        )
        proc.start()
        self.procs.append(proc)
        return proc

    def kill(self, proc: ServiceProcess) -> None:
        self.killed.add(proc.pid)
        proc.kill()

    def by_worker(self, worker: str) -> ServiceProcess:
        pid = int(worker.rsplit("-", 1)[1])
        return next(p for p in self.procs if p.pid == pid)

    def starts(self) -> dict[str, list[str]]:
        """task id -> workers that started it, from every process's log."""
        found: dict[str, list[str]] = {}
        for proc in self.procs:
            for line in proc.lines:
                if match := START_LINE.search(line):
                    found.setdefault(match.group(1), []).append(match.group(2))
        return found

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop(timeout=15)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} {p.pid} ---\n{p.output()}" for p in self.procs)
