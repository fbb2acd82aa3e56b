"""A closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next request as soon as
the previous answer is in, for a fixed time (what `wrk -c N -d T` does, without needing wrk installed).

It runs on uvloop in its own process (`measure` spawns it), so it never shares an interpreter with what it
measures; both servers of a comparison are driven by the same generator, on the same machine, in one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Load:
    """What one load run saw: answers per second, latency quantiles (ms) and answers that were not 2xx."""

    rate: float
    p50_ms: float
    p99_ms: float
    answers: int
    failures: int


def _request(method: str, path: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(
    port: int, request: bytes, until: float, latencies: list[float], failures: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while (started := time.perf_counter()) < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:  # chunked or close-delimited: not what these servers send
                raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                failures.append(1)
    finally:
        writer.close()


async def _run(port: int, request: bytes, connections: int, seconds: float) -> Load:
    latencies: list[float] = []
    failures: list[int] = []
    warm_until = time.perf_counter() + min(1.0, seconds / 5)
    await asyncio.gather(*(_connection(port, request, warm_until, [], []) for _ in range(connections)))
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_connection(port, request, until, latencies, failures) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    if len(latencies) < 2:
        raise RuntimeError(f"only {len(latencies)} answers in {seconds:g} s")
    cuts = statistics.quantiles(latencies, n=100)
    return Load(len(latencies) / elapsed, cuts[49] * 1e3, cuts[98] * 1e3, len(latencies), len(failures))


def measure(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    connections: int = 50,
    seconds: float = 5.0,
) -> Load:
    """Drive `method path` on 127.0.0.1:`port` from a separate process; returns what it saw."""
    spec = {
        "port": port,
        "request": _request(method, path, f"127.0.0.1:{port}", headers or {}, body).decode(),
        "connections": connections,
        "seconds": seconds,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.http_load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    load = Load(**json.loads(done.stdout))
    if load.failures:  # a rate of refusals (401, 429) would measure the wrong thing
        raise RuntimeError(f"{load.failures} of {load.answers} answers to {method} {path} were not 2xx")
    return load


def wait_until_served(url: str) -> None:
    """Wait (at most 30 s) until something answers HTTP on `url`, whatever its answer."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url + "/docs", timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on {url}")


def main() -> None:
    import uvloop

    spec = json.loads(sys.stdin.read())
    load = uvloop.run(_run(spec["port"], spec["request"].encode(), spec["connections"], spec["seconds"]))
    print(json.dumps(load.__dict__))


if __name__ == "__main__":
    main()
