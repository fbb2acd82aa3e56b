"""The admin API key of a local `task dev` deployment.

On first start a random admin key is written to `./var/dev-api-key` (mode 0600) and its sha256 digest to
`./var/dev-api-keys.json` (the gateway's `API_KEYS_FILE`); later starts reuse it, unless it was revoked
(through the API): then a new one replaces it, since the gateway never provisions a revoked key again. Local
clients (curl, the Python client, the CLI, the dashboard) read the key from `MEDIAJOBS_API_KEY` or from that
file.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

KEY_FILE = "dev-api-key"
KEYS_FILE = "dev-api-keys.json"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    path.chmod(0o600)


def ensure_dev_key(
    var: Path, revoked: Callable[[str], bool] = lambda digest: False
) -> tuple[str, Path, bool]:
    """(the admin key, the API_KEYS_FILE naming it, whether it was created just now); a key whose sha256
    digest `revoked` says was revoked is replaced by a new one."""
    key_path = var / KEY_FILE
    created = not key_path.exists() or revoked(_digest(key_path.read_text().strip()))
    if created:
        _write_private(key_path, "mj_" + secrets.token_urlsafe(32) + "\n")
    key = key_path.read_text().strip()
    entry = {"name": "task dev admin", "owner": "dev", "role": "admin", "sha256": _digest(key)}
    keys_path = var / KEYS_FILE
    _write_private(keys_path, json.dumps([entry], indent=2) + "\n")
    return key, keys_path, created


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
