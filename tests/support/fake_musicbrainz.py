"""A local stand-in for MusicBrainz's WS/2 recording search and the Cover Art Archive (no network in tests).

It knows the recordings it is given, answers searches with MusicBrainz's JSON shape (score 100 for a known
artist and title, a low-scoring stranger otherwise), redirects `/release/<mbid>/front-250` to a JPEG as the
archive does, can answer 503 (with Retry-After) or 400 on demand, and records every request: when, what, and
the User-Agent it came with. It also serves a music video page (`/video/<slug>`) for yt-dlp's generic
extractor: a title like "Artist - Song (Official Video)" and a `<video>` pointing at a clip elsewhere.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from tests.support.localhttp import BackgroundHTTPServer, QuietHandler

_FIELD = re.compile(r'(recording|artist):"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class KnownRecording:
    artist: str
    title: str
    recording_id: str
    artist_id: str
    release_id: str
    isrc: str


@dataclass
class Seen:
    at: float
    path: str
    query: dict[str, str]
    user_agent: str


@dataclass
class FakeMusicBrainz:
    known: list[KnownRecording] = field(default_factory=list)
    video_pages: dict[str, tuple[str, str]] = field(default_factory=dict)
    """slug -> (page title, video URL)."""
    busy_next: int = 0
    """Answer this many recording searches with 503 and Retry-After: 1."""
    _seen: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: BackgroundHTTPServer[FakeMusicBrainz] | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.base_url

    def start(self) -> Self:
        self._server = BackgroundHTTPServer(self, _Handler)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def searches(self) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if s.path == "/ws/2/recording"]

    def record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def take_busy(self) -> bool:
        with self._lock:
            if self.busy_next > 0:
                self.busy_next -= 1
                return True
            return False

    def answer(self, query: str) -> tuple[int, dict[str, Any]]:
        fields = {name: re.sub(r"\\(.)", r"\1", value) for name, value in _FIELD.findall(query)}
        title, artist = fields.get("recording", ""), fields.get("artist")
        if "refuse me" in title:
            return 400, {"error": "Invalid query"}
        for known in self.known:
            if known.title.casefold() == title.casefold() and (artist or "").casefold() in (
                "",
                known.artist.casefold(),
            ):
                return 200, {"count": 1, "offset": 0, "recordings": [_recording(known, 100)]}
        stranger = KnownRecording(
            "Somebody Else", title or "?", "0" * 8 + "-0000-0000-0000-" + "0" * 12, "x", "y", ""
        )
        return 200, {"count": 1, "offset": 0, "recordings": [_recording(stranger, 40)]}


def _recording(known: KnownRecording, score: int) -> dict[str, Any]:
    return {
        "id": known.recording_id,
        "score": score,
        "title": known.title,
        "length": 320357,
        "artist-credit": [{"name": known.artist, "artist": {"id": known.artist_id, "name": known.artist}}],
        "first-release-date": "2000-11-13",
        "isrcs": [known.isrc] if known.isrc else [],
        "releases": [
            {"id": "bootleg-" + known.release_id, "title": "A Bootleg", "status": "Bootleg", "date": "1999"},
            {
                "id": known.release_id,
                "title": "Discovery",
                "status": "Official",
                "date": "2001-03-12",
                "country": "XE",
                "release-group": {"id": "rg-" + known.release_id, "primary-type": "Album"},
            },
        ],
    }


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (250, 250), (200, 40, 90)).save(out, "JPEG")
    return out.getvalue()


COVER = _jpeg()


class _Handler(QuietHandler):
    server: BackgroundHTTPServer[FakeMusicBrainz]

    def do_GET(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        app.record(Seen(time.monotonic(), parts.path, query, self.headers.get("User-Agent", "")))
        if parts.path == "/ws/2/recording":
            if app.take_busy():
                self._send(503, b'{"error": "over the rate limit"}', "application/json", {"Retry-After": "1"})
                return
            status, body = app.answer(query.get("query", ""))
            self._send(status, json.dumps(body).encode(), "application/json")
            return
        if match := re.fullmatch(r"/release/([\w-]+)/front-250", parts.path):
            if match.group(1).startswith("dark-"):
                self._send(403, b"Forbidden", "text/plain")
            elif match.group(1).startswith("evil-"):  # elsewhere: a cloud's instance metadata, say
                self._send(307, b"", "text/plain", {"Location": "http://169.254.169.254/latest/meta-data/"})
            elif any(k.release_id == match.group(1) for k in app.known):
                self._send(307, b"", "text/plain", {"Location": f"/images/{match.group(1)}-250.jpg"})
            else:
                self._send(404, b"Not Found", "text/plain")
            return
        if parts.path.startswith("/images/"):
            self._send(200, COVER, "image/jpeg")
            return
        if (slug := parts.path.removeprefix("/video/")) in app.video_pages:
            title, video = app.video_pages[slug]
            page = (
                f'<html><head><title>{title}</title></head><body><video src="{video}"></video></body></html>'
            )
            self._send(200, page.encode(), "text/html; charset=utf-8")
            return
        self._send(404, b"Not Found", "text/plain")

    def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
