"""The gateway under load: `POST /jobs/submit` and `GET /jobs/{id}/status` against a bare FastAPI app.

    uv run python -m bench.gateway [--connections 50 --seconds 5]

One gateway process (authentication on: every request carries an admin API key; tracing on: spans are
exported over OTLP to `bench.otlp_sink`, a process of its own; its submission rate limit and per-owner quota
raised out of the way, as their checks still run) and the baseline `bench.bare_app` (FastAPI + pydantic +
one Lua write, served by the same uvicorn/httptools/uvloop stack) run against one Redis. `bench.http_load`
drives each with the same closed loop of keep-alive connections, in the order gateway, bare, bare, gateway
(each figure the mean of its two runs, so a drift of the machine's speed during the run weighs on both sides
alike). Printed per endpoint: answers/s, latency p50/p99, the server process's CPU per answer, and the
gateway's rate as a ratio of the bare app's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import httpx

from bench.cpu_time import process_cpu_s
from bench.http_load import Load, measure, wait_until_served
from bench.otlp_sink import start_sink
from bench.redis_server import bench_redis
from tools.devkey import ensure_dev_key
from tools.localredis import free_port
from tools.procs import ServiceProcess

BODY = json.dumps({"job_type": "echo", "payload": {"title": "bench"}}).encode()


def _load(
    proc: ServiceProcess,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    args: argparse.Namespace,
) -> tuple[Load, float]:
    """The load run and the server's CPU µs per answer during it."""
    cpu = process_cpu_s(proc.pid)
    load = measure(
        port, method, path, headers=headers, body=body, connections=args.connections, seconds=args.seconds
    )
    used = process_cpu_s(proc.pid) - cpu
    return load, used / max(1, load.answers) * 1e6


def _mean(runs: list[tuple[Load, float]]) -> tuple[Load, float]:
    """Two runs as one: rates and latencies averaged, answers and failures summed; and the mean CPU."""
    loads = [load for load, _ in runs]
    merged = Load(
        rate=sum(load.rate for load in loads) / len(loads),
        p50_ms=sum(load.p50_ms for load in loads) / len(loads),
        p99_ms=sum(load.p99_ms for load in loads) / len(loads),
        answers=sum(load.answers for load in loads),
        failures=sum(load.failures for load in loads),
    )
    return merged, sum(cpu for _, cpu in runs) / len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--env", nargs="*", default=[], help="NAME=value for the gateway (to try settings)")
    args = parser.parse_args()
    sink, otlp_endpoint = start_sink()
    with tempfile.TemporaryDirectory() as tmp, bench_redis(Path(tmp)) as url:
        key, keys_file, _ = ensure_dev_key(Path(tmp) / "keys")
        gateway_port, bare_port = free_port(), free_port()
        gateway = ServiceProcess(
            "gateway",
            {
                "REDIS_URL": url,
                "MEDIA_ROOT": str(Path(tmp) / "media"),
                "API_KEYS_FILE": str(keys_file),
                "GATEWAY_PORT": str(gateway_port),
                "LOG_LEVEL": "WARNING",
                "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
                "SUBMIT_RATE_PER_S": "1000000",
                "SUBMIT_BURST": "1000000",
                "MAX_ACTIVE_JOBS": "100000000",
                **dict(item.split("=", 1) for item in args.env),
            },
        )
        bare = ServiceProcess("bench.bare_app", {}, args=[str(bare_port), url])
        gateway.start()
        bare.start()
        try:
            rows: list[tuple[str, Load, float, Load, float]] = []
            auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            plain = {"Content-Type": "application/json"}
            for port in (gateway_port, bare_port):
                wait_until_served(f"http://127.0.0.1:{port}")
            ours_id = httpx.post(
                f"http://127.0.0.1:{gateway_port}/jobs/submit", content=BODY, headers=auth
            ).json()["task_id"]
            bare_id = httpx.post(
                f"http://127.0.0.1:{bare_port}/jobs/submit", content=BODY, headers=plain
            ).json()["task_id"]
            for name, method, body, ours_path, bare_path in (
                ("POST /jobs/submit", "POST", BODY, "/jobs/submit", "/jobs/submit"),
                ("GET /jobs/{id}/status", "GET", b"", f"/jobs/{ours_id}/status", f"/jobs/{bare_id}/status"),
            ):
                # gateway, bare, bare, gateway: the machine's speed drifts; each side gets both ends of it
                first = _load(gateway, gateway_port, method, ours_path, auth, body, args)
                bare_runs = [_load(bare, bare_port, method, bare_path, plain, body, args) for _ in range(2)]
                last = _load(gateway, gateway_port, method, ours_path, auth, body, args)
                ours, ours_cpu = _mean([first, last])
                bare_load, bare_cpu = _mean(bare_runs)
                rows.append((name, ours, ours_cpu, bare_load, bare_cpu))
        finally:
            gateway.stop()
            bare.stop()
            sink.shutdown()
    print(f"{args.connections} connections, {args.seconds:g} s each, one server process each, same Redis")
    print(f"{'':24}{'':10}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU µs':>8}")
    for name, ours, ours_cpu, base, base_cpu in rows:
        for who, load, cpu in (("gateway", ours, ours_cpu), ("bare app", base, base_cpu)):
            print(f"{name:24}{who:10}{load.rate:>9,.0f}{load.p50_ms:>8.1f}{load.p99_ms:>8.1f}{cpu:>8,.0f}")
        print(f"{'':24}{'ratio':10}{ours.rate / base.rate:>9.2f}")


if __name__ == "__main__":
    main()
