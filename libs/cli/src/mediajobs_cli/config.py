"""Where the gateway is and which API key to use: `MEDIAJOBS_URL`, `MEDIAJOBS_API_KEY`, the dev key file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
DEV_KEY_FILE = Path("var") / "dev-api-key"


@dataclass(frozen=True)
class Config:
    url: str
    api_key: str | None


def find_dev_key(start: Path) -> str | None:
    """The key `task dev` wrote to ./var/dev-api-key, looked up from `start` upwards."""
    for folder in (start, *start.parents):
        candidate = folder / DEV_KEY_FILE
        if candidate.is_file():
            try:
                key = candidate.read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if key:
                return key
    return None


def load(url: str | None = None, api_key: str | None = None) -> Config:
    """Options first, then the environment, then the defaults."""
    base = url or os.environ.get("MEDIAJOBS_URL") or DEFAULT_URL
    key = api_key or os.environ.get("MEDIAJOBS_API_KEY") or find_dev_key(Path.cwd())
    return Config(url=base.rstrip("/"), api_key=key)
