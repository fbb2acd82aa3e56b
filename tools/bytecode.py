"""Compile the environment's modules to bytecode ahead of time (`task dev`, `task test` and `task bench` do).

Where PYTHONDONTWRITEBYTECODE is set (this project's development and CI machines set it) Python never caches
bytecode, so every process compiles every module it imports from source: ~1.4 s of CPU for each service
process, paid again at every start (and a test run starts hundreds). Compiling once ahead of time removes
that: Python still reads bytecode it did not write. Installed packages and the workspace's own (editable)
sources are both compiled; files whose bytecode is up to date are skipped (~0.5 s when nothing changed, ~20 s
the first time). Images compile at build time instead (UV_COMPILE_BYTECODE in the Dockerfile).

It writes timestamp-checked bytecode even where SOURCE_DATE_EPOCH is set (which would make compileall write
hash-checked files it never counts as up to date, recompiling everything every time). uv's own
`compile-bytecode` setting is not used: it re-checks every installed file and prints a line on every
`uv run`, and it does not cover editable sources.
"""

from __future__ import annotations

import compileall
import sys
import sysconfig
import time
from pathlib import Path
from py_compile import PycInvalidationMode

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ("libs", "services", "tools", "tests", "bench")


def main() -> None:
    installed = {Path(sysconfig.get_paths()[name]) for name in ("purelib", "platlib")}
    folders = sorted(installed) + [ROOT / name for name in WORKSPACE]
    started = time.monotonic()
    ok = all(  # every folder, even after one that failed
        [
            compileall.compile_dir(folder, quiet=1, invalidation_mode=PycInvalidationMode.TIMESTAMP)
            for folder in folders
            if folder.is_dir()
        ]
    )
    if not ok:  # a module that does not compile fails where it is imported, with its own error
        print("tools.bytecode: some modules did not compile (see above)", file=sys.stderr)
    took = time.monotonic() - started
    if took > 3:  # a first run (or after an upgrade): say why the start took a while
        print(f"compiled Python modules to bytecode in {took:.0f} s (later starts skip this)", flush=True)


if __name__ == "__main__":
    main()
