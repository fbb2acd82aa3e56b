"""The `ChildSpec` the downloader's child tests start from: a job's two directories under a test's tmp path,
short timeouts, no retries, and local servers allowed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from downloader.child_protocol import ChildSpec

if TYPE_CHECKING:
    from pathlib import Path


def child_spec(tmp_path: Path, url: str, **overrides: Any) -> ChildSpec:
    """A spec for `url` writing into ``tmp_path/out`` (partial files in ``tmp_path/tmp``); `overrides`
    replace any field."""
    values: dict[str, Any] = {
        "url": url,
        "output_dir": str(tmp_path / "out"),
        "temp_dir": str(tmp_path / "tmp"),
        "socket_timeout": 5.0,
        "retries": 0,
        "allow_private_networks": True,
    }
    values.update(overrides)
    return ChildSpec.model_validate(values)
