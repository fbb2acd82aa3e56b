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
    url_from: str = "the default"
    """Where `url` came from (`--url`, `MEDIAJOBS_URL`, the default): said when the gateway refuses or is
    not there, since talking to another gateway than meant is the usual cause."""
    key_from: str = "nowhere"
    """Where `api_key` came from (`--api-key`, `MEDIAJOBS_API_KEY`, the dev key file's path)."""


def dev_key_file(start: Path) -> tuple[str, Path] | None:
    """The key `task dev` wrote to ./var/dev-api-key, looked up from `start` upwards, and its file."""
    for folder in (start, *start.parents):
        candidate = folder / DEV_KEY_FILE
        if candidate.is_file():
            try:
                key = candidate.read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if key:
                return key, candidate
    return None


def find_dev_key(start: Path) -> str | None:
    """The key `task dev` wrote to ./var/dev-api-key, looked up from `start` upwards."""
    found = dev_key_file(start)
    return found[0] if found else None


def load(url: str | None = None, api_key: str | None = None) -> Config:
    """Options first, then the environment, then the defaults."""
    url_env = os.environ.get("MEDIAJOBS_URL")
    if url:
        base, url_from = url, "--url"
    elif url_env:
        base, url_from = url_env, "MEDIAJOBS_URL"
    else:
        base, url_from = DEFAULT_URL, "the default"
    key_env = os.environ.get("MEDIAJOBS_API_KEY")
    key: str | None
    if api_key:
        key, key_from = api_key, "--api-key"
    elif key_env:
        key, key_from = key_env, "MEDIAJOBS_API_KEY"
    elif found := dev_key_file(Path.cwd()):
        key, key_from = found[0], str(found[1])
    else:
        key, key_from = None, "none given (--api-key, MEDIAJOBS_API_KEY or ./var/dev-api-key)"
    return Config(url=base.rstrip("/"), api_key=key, url_from=url_from, key_from=key_from)
