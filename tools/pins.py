"""Write the exact versions uv resolved into pyproject.toml's `[tool.uv] constraint-dependencies`.

uv.lock records registry download URLs and is not committed; these pins make every machine resolve the same
versions instead. Run after changing dependencies: `uv run task pins`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "constraint-dependencies = ["


def exported_pins() -> list[str]:
    out = subprocess.run(
        [
            "uv",
            "export",
            "--no-hashes",
            "--format",
            "requirements-txt",
            "--all-groups",
            "--no-emit-workspace",
            "--no-header",
            "--no-annotate",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    pins = []
    for raw in out.splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "-e", "./", "-")):
            pins.append(line)
    return sorted(set(pins), key=str.lower)


def main() -> None:
    pyproject = ROOT / "pyproject.toml"
    text = pyproject.read_text()
    block = BEGIN + "\n" + "".join(f'    "{pin}",\n' for pin in exported_pins()) + "]"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + r".*?\n\]", lambda _: block, text, count=1, flags=re.S)
    else:
        text = text.replace("[tool.uv]\n", "[tool.uv]\n" + block + "\n", 1)
    pyproject.write_text(text)
    print(f"pinned {len(exported_pins())} packages")


if __name__ == "__main__":
    main()
