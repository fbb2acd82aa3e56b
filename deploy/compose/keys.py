"""`task up`'s API keys: the admin key `task dev` uses (./var/dev-api-key, created once, mode 0600)
provisioned into the compose gateway through its `api_keys` secret.

The secret file holds sha256 digests only, never a key, so it is written world-readable: compose bind-mounts
file secrets as they are on the host, and the gateway runs as uid 10001, not as you.
Run from the repository root: `PYTHONPATH=. python deploy/compose/keys.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.devkey import ensure_dev_key  # noqa: E402

SECRET = ROOT / "var" / "compose" / "api-keys.json"


def provision(var: Path, secret: Path) -> tuple[str, bool]:
    """Write the compose secret naming `task dev`'s admin key; (the key, whether it was created now)."""
    key, keys_file, created = ensure_dev_key(var)
    entries = json.loads(keys_file.read_text())
    assert all("key" not in entry for entry in entries), "only digests may leave var/dev-api-key"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(json.dumps(entries, indent=2) + "\n")
    secret.chmod(0o644)
    return key, created


def main() -> None:
    key, created = provision(ROOT / "var", SECRET)
    made = "created" if created else "reused"
    print(f"admin API key ({made}, in var/dev-api-key): {key}")


if __name__ == "__main__":
    main()
