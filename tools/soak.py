"""Run the test suite N times, each from a clean clone as CI does, optionally with every core kept busy.

    uv run python -m tools.soak --runs 5              # 5 clean-clone `CI=true bash .ci/run` runs
    uv run python -m tools.soak --runs 3 --load       # the same beside one busy loop per core
    uv run python -m tools.soak --runs 2 --in-place -- -k delivery   # this tree, pytest arguments

Prints one line per run (pass/fail, wall time, pytest's summary line, failed tests) and a total; exits
non-zero if any run failed. Each run's whole output is kept under `--logs` (default ./var/soak).
The busy loops (`sh -c 'while :; do :; done'`, as a loaded CI machine would have) are started in their own
process group and always killed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed).*) in [\d.]+s", re.MULTILINE)
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RunResult:
    number: int
    ok: bool
    seconds: float
    summary: str
    failed: list[str]
    log: Path


@contextlib.contextmanager
def busy_cores(enabled: bool) -> Iterator[int]:
    """One CPU-burning shell loop per core while the block runs; yields how many."""
    loops: list[subprocess.Popen[bytes]] = []
    if enabled:
        for _ in range(os.cpu_count() or 1):
            loops.append(subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True))
    try:
        yield len(loops)
    finally:
        for loop in loops:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(loop.pid, signal.SIGKILL)
            loop.wait()


def run_once(number: int, *, in_place: bool, pytest_args: list[str], logs: Path, rev: str) -> RunResult:
    log = logs / f"run-{number}.log"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mediajobs-soak-") as scratch:
        if in_place:
            cwd = ROOT
            command = ["uv", "run", "task", "test", "--", *pytest_args]
        else:
            cwd = Path(scratch) / "clone"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(cwd)], check=True)
            subprocess.run(["git", "-C", str(cwd), "checkout", "-q", rev], check=True)
            command = ["bash", ".ci/run"]
        with log.open("w") as out:
            code = subprocess.run(
                command,
                cwd=cwd,
                env={**os.environ, "CI": "true"},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            ).returncode
    text = log.read_text(errors="replace")
    summaries = SUMMARY.findall(text)
    return RunResult(
        number=number,
        ok=code == 0,
        seconds=time.monotonic() - started,
        summary=summaries[-1][0] if summaries else f"exit {code}, no pytest summary",
        failed=FAILED.findall(text),
        log=log,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--load", action="store_true", help="keep every core busy while the suite runs")
    parser.add_argument("--in-place", action="store_true", help="run in this tree, not a clean clone")
    parser.add_argument("--logs", type=Path, default=ROOT / "var" / "soak")
    parser.add_argument("--rev", default="HEAD", help="the commit every clean clone checks out")
    parser.add_argument("pytest_args", nargs="*", help="with --in-place: arguments for pytest")
    args = parser.parse_args(argv)
    if shutil.which("uv") is None and args.in_place:
        parser.error("uv is not on PATH")
    args.logs.mkdir(parents=True, exist_ok=True)
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", args.rev], check=True, capture_output=True, text=True
    ).stdout.strip()
    results: list[RunResult] = []
    with busy_cores(args.load) as loops:
        print(
            f"{args.runs} run(s), {'clean clones' if not args.in_place else 'in place'}, {loops} busy loop(s)"
        )
        for number in range(1, args.runs + 1):
            result = run_once(
                number, in_place=args.in_place, pytest_args=args.pytest_args, logs=args.logs, rev=rev
            )
            results.append(result)
            verdict = "PASS" if result.ok else "FAIL"
            print(f"run {number}: {verdict} {result.seconds:6.0f} s  {result.summary}", flush=True)
            for test in result.failed:
                print(f"    failed: {test}  (log: {result.log})", flush=True)
    passed = sum(r.ok for r in results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
