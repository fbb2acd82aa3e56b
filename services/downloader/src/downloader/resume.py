"""Safe resume: continue a previous attempt's ``.part`` only if the remote file is still the same one.

yt-dlp resumes whatever ``.part`` it finds with ``Range: bytes=<size>-`` and appends blindly: if the file
changed on the server in between, the result is a corrupt file and no error (yt-dlp sends no ``If-Range``
and compares no ``ETag`` or ``Last-Modified`` before it resumes). So, in the child, right before yt-dlp
downloads (a ``before_dl`` pre-processor, when the formats are chosen):

1. each plain-HTTP format is probed with ``GET Range: bytes=0-0``: does the server answer 206 (ranges
   work), what is the total size, what are the validators (a strong ``ETag``, ``Last-Modified``);
2. if the temp dir holds partial files, they are kept only when a record of the previous attempt
   (``.resume.json`` in the temp dir) exists and, for every format, the server supports ranges, the
   size is the same and at least one validator is present on both sides and equal (none differs);
   otherwise everything in the temp dir is removed and the download starts from zero;
3. the record is (re)written with what the probe saw, before the first byte is downloaded.

Manifest-based formats (HLS/DASH fragments) are not probed; their partial state is kept only when the
manifest URL is unchanged. The temp dir survives a crash (only the job framework's success / failure /
cancel paths remove it), which is when a resume happens: the job is reclaimed and run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RECORD_NAME = ".resume.json"
SUBTITLE_EXTS = frozenset(
    {"vtt", "srt", "ass", "ssa", "lrc", "ttml", "dfxp", "srv1", "srv2", "srv3", "json3"}
)
IMAGE_EXTS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "avif", "bmp"})
_HTTP_PROTOCOLS = frozenset({"http", "https"})
_CONTENT_RANGE = re.compile(r"bytes\s+\d+-\d+/(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class RemoteState:
    """What identifies one remote format (the validators of the file behind it)."""

    protocol: str
    url: str
    size: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    ranges: bool = False

    @classmethod
    def from_json(cls, data: Any) -> RemoteState | None:
        if not isinstance(data, dict):
            return None
        protocol, url, size = data.get("protocol"), data.get("url"), data.get("size")
        etag, modified = data.get("etag"), data.get("last_modified")
        if not (isinstance(protocol, str) and isinstance(url, str)):
            return None
        return cls(
            protocol=protocol,
            url=url,
            size=size if isinstance(size, int) else None,
            etag=etag if isinstance(etag, str) else None,
            last_modified=modified if isinstance(modified, str) else None,
            ranges=data.get("ranges") is True,
        )


def format_key(fmt: dict[str, Any]) -> str:
    return f"{fmt.get('format_id')}|{fmt.get('protocol')}"


def _strong_etag(value: str | None) -> str | None:
    """Weak ETags (``W/"…"``) don't promise byte-identical content: useless for ranges."""
    if not value or value.startswith(("W/", "w/")):
        return None
    return value


def resumable(old: RemoteState | None, new: RemoteState | None) -> str | None:
    """None when a partial download of ``old`` may be continued from ``new``; else the reason why not."""
    if old is None or new is None:
        return "no record of the previous attempt's remote file"
    if old.protocol != new.protocol:
        return "the format changed"
    if new.protocol not in _HTTP_PROTOCOLS:
        return None if old.url == new.url else "the manifest URL changed"
    if not new.ranges:
        return "the server does not support ranges"
    if new.size is None or old.size != new.size:
        return f"the remote size changed ({old.size} -> {new.size})"
    matched = False
    for name in ("etag", "last_modified"):
        before, after = getattr(old, name), getattr(new, name)
        if before is None or after is None:
            continue
        if before != after:
            return f"the remote {name.replace('_', '-')} changed"
        matched = True
    return None if matched else "the server sends no validator (ETag/Last-Modified)"


def probe(ydl: Any, fmt: dict[str, Any]) -> RemoteState:
    """One ``GET Range: bytes=0-0`` for a plain-HTTP format; manifests are described by their URL only."""
    protocol = str(fmt.get("protocol") or "")
    url = str(fmt.get("url") or "")
    if protocol not in _HTTP_PROTOCOLS:
        return RemoteState(protocol=protocol, url=url)
    from yt_dlp.networking import Request
    from yt_dlp.networking.exceptions import HTTPError

    headers = {**(fmt.get("http_headers") or {}), "Range": "bytes=0-0"}
    try:
        response = ydl.urlopen(Request(url, headers=headers))
    except HTTPError as exc:  # e.g. 416 for an empty file: nothing to resume
        response = exc.response
    try:
        status = response.status
        found = response.headers
        size: int | None = None
        ranges = False
        if status == 206 and (match := _CONTENT_RANGE.search(found.get("Content-Range") or "")):
            size, ranges = int(match.group(1)), True
        elif status == 200 and (length := found.get("Content-Length")) and length.isdigit():
            size = int(length)
        return RemoteState(
            protocol=protocol,
            url=url,
            size=size,
            etag=_strong_etag(found.get("ETag")),
            last_modified=found.get("Last-Modified") or None,
            ranges=ranges,
        )
    finally:
        with contextlib.suppress(Exception):
            response.close()


def is_side_file(name: str) -> bool:
    """Subtitles, thumbnail and info JSON (``media.en.vtt``, ``media.jpg``, ``media.info.json``).

    yt-dlp writes them into the temp dir before the media download starts (and again on every attempt).
    """
    if name.endswith((".info.json", ".description")):
        return True
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext in SUBTITLE_EXTS or ext in IMAGE_EXTS


def partial_files(temp_dir: Path) -> list[Path]:
    """The media state a previous attempt left in the temp dir: ``.part``/``.ytdl`` files, fragments, and
    finished format files waiting to be merged (side files and the record excluded)."""
    if not temp_dir.is_dir():
        return []
    return [p for p in temp_dir.iterdir() if p.name != RECORD_NAME and not is_side_file(p.name)]


def load_record(temp_dir: Path) -> dict[str, RemoteState]:
    try:
        data = json.loads((temp_dir / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return {}
    formats = data.get("formats") if isinstance(data, dict) else None
    if not isinstance(formats, dict):
        return {}
    record: dict[str, RemoteState] = {}
    for key, value in formats.items():
        state = RemoteState.from_json(value)
        if state is not None:
            record[key] = state
    return record


def save_record(temp_dir: Path, states: dict[str, RemoteState]) -> None:
    temp_dir.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir / (RECORD_NAME + ".new")
    tmp.write_text(json.dumps({"formats": {k: asdict(v) for k, v in states.items()}}))
    os.replace(tmp, temp_dir / RECORD_NAME)


def wipe(temp_dir: Path, *, media_only: bool = False) -> None:
    """Remove everything in the temp dir (the dir itself stays), or only the media state (`partial_files`)."""
    if not temp_dir.is_dir():
        return
    for path in partial_files(temp_dir) if media_only else list(temp_dir.iterdir()):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class ResumeGuard:
    """Decides, once the formats are known, whether the temp dir's partial files may be continued."""

    def __init__(self, temp_dir: str) -> None:
        self.temp_dir = Path(temp_dir)
        self.resumed_from: int | None = None
        """Bytes of kept ``.part`` files (None: nothing was resumed)."""
        self.wiped_reason: str | None = None

    def check(self, ydl: Any, info: dict[str, Any]) -> None:
        formats = info.get("requested_formats") or [info]
        states = {format_key(fmt): probe(ydl, fmt) for fmt in formats}
        partial = partial_files(self.temp_dir)
        if partial:
            old = load_record(self.temp_dir)
            reasons = [r for key, new in states.items() if (r := resumable(old.get(key), new)) is not None]
            if reasons:
                self.wiped_reason = reasons[0]
                print(f"not resuming ({reasons[0]}): starting over", file=sys.stderr, flush=True)
                wipe(self.temp_dir, media_only=True)
                self.resumed_from = None
            else:
                kept = sum(p.stat().st_size for p in partial if p.name.endswith(".part") and p.is_file())
                self.resumed_from = kept or None
        save_record(self.temp_dir, states)

    def reset(self) -> None:
        self.resumed_from = None
