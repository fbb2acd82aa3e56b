"""Plain M3U lists: a list of media URLs, extended (``#EXTM3U``, each URL after an ``#EXTINF`` line with its
duration and title) or bare (one URL a line). The one rule for what such a list is, for the downloader's
listing and `video_download` refusal and for the metadata service's `video_info` alike.

yt-dlp has no extractor for them. Its generic extractor reads any ``#EXTM3U`` document as an HLS master
playlist, each URL a "variant" fetched as an HLS media playlist (the bytes of an mp4 read as lines of
segment URLs), and a bare list as a direct media file (or fails on it, served with HLS's own type). What
tells them apart from HLS is the HLS spec itself: every HLS playlist holds ``#EXT-X-`` tags
(``#EXT-X-TARGETDURATION`` is required in a media playlist, ``#EXT-X-STREAM-INF`` names each variant of a
master playlist); a plain M3U holds none.

So when yt-dlp's generic extractor took the document at the URL itself for the media (one HLS master, one
direct file) or failed to read it, `extract_with_plain_m3u` reads the document itself (yt-dlp's own
`urlopen`: the child's connect guard on every address, redirects included, and yt-dlp's timeouts; at most
`MAX_M3U_BYTES`), and a plain M3U becomes a playlist of its URLs, relative ones resolved against the list's
own (final) URL. The playlist goes through yt-dlp's processing like any other (``extract_flat``,
``playlist_items``, the entry cap).

Nothing here imports yt-dlp (`jobcommon.ytdlp`): the `YoutubeDL` is the caller's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from jobcommon.ytdlp.failures import classify, is_yt_dlp
from jobcommon.ytdlp.smuggling import unsmuggle

if TYPE_CHECKING:
    import yt_dlp

SNIFF_BYTES = 512
"""What is read of a document before deciding whether it can be a plain M3U at all (as yt-dlp sniffs)."""
MAX_M3U_BYTES = 8 * 1024 * 1024
"""Largest plain M3U read: some 40,000 entries of long URLs, far past any playlist's entry cap."""

_HEADER = "#EXTM3U"
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_EXTINF = re.compile(r'#EXTINF:\s*(?P<duration>[-+]?[0-9.]+)?(?:[^,"]|"[^"]*")*,(?P<title>.*)')
"""``#EXTINF:<duration> [attributes],<title>``; an attribute's quoted value may hold commas (IPTV lists)."""


class M3uTooLargeError(Exception):
    """A plain M3U list longer than `MAX_M3U_BYTES`: a permanent failure."""


@dataclass(frozen=True, slots=True)
class M3uEntry:
    url: str
    title: str | None = None
    duration: float | None = None


def is_plain_m3u_start(prefix: bytes) -> bool:
    """Whether a document starting with `prefix` may be a plain M3U: text whose first line is ``#EXTM3U``, or
    whose first line that is no ``#`` comment is an absolute URL (a media file, an HTML page or a feed starts
    otherwise)."""
    if b"\x00" in prefix:
        return False
    lines = [line.strip() for line in _decode(prefix).lstrip().splitlines()]
    if lines and lines[0].startswith(_HEADER):
        return True
    first = next((line for line in lines if line and not line.startswith("#")), None)
    return first is None or _ABSOLUTE_URL.match(first) is not None


def parse_plain_m3u(text: str, base_url: str) -> list[M3uEntry] | None:
    """The entries of a plain M3U document, or None if `text` is none: an HLS playlist (``#EXT-X-`` tags),
    or, without the ``#EXTM3U`` header, anything but lines of absolute URLs (and ``#`` comments)."""
    lines = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    if any(line.startswith("#EXT-X-") for line in lines):
        return None
    extended = next((line for line in lines if line), "").startswith(_HEADER)
    entries: list[M3uEntry] = []
    title: str | None = None
    duration: float | None = None
    for line in lines:
        if not line:
            continue
        if line.startswith("#"):
            if (info := _EXTINF.fullmatch(line)) is not None:
                title = info["title"].strip() or None
                duration = _duration(info["duration"])
            continue
        if not extended and _ABSOLUTE_URL.fullmatch(line) is None:
            return None
        entries.append(M3uEntry(urljoin(base_url, line), title, duration))
        title, duration = None, None
    return entries if entries or extended else None


def read_plain_m3u(ydl: yt_dlp.YoutubeDL, url: str) -> dict[str, Any] | None:
    """The plain M3U at `url` as a yt-dlp playlist result (not yet processed: ``ydl.process_ie_result``
    selects its entries), or None if the document is none. Raises what fetching it raises, and
    `M3uTooLargeError`."""
    plain, _ = unsmuggle(url)
    with ydl.urlopen(plain) as response:
        prefix = response.read(SNIFF_BYTES)
        if not is_plain_m3u_start(prefix):
            return None
        rest = response.read(MAX_M3U_BYTES + 1 - len(prefix))
        final_url = str(response.url or plain)
    document = prefix + rest
    if len(document) > MAX_M3U_BYTES:
        whole_lines = document[: document.rfind(b"\n") + 1]
        if parse_plain_m3u(_decode(whole_lines), final_url) is None:
            return None  # a large text, but no list
        raise M3uTooLargeError(f"the M3U list is larger than {MAX_M3U_BYTES // (1024 * 1024)} MiB")
    entries = parse_plain_m3u(_decode(document), final_url)
    if entries is None:
        return None
    generic = ydl.get_info_extractor("Generic")
    name = plain.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or plain
    playlist = generic.playlist_result(
        [
            generic.url_result(entry.url, video_title=entry.title, duration=entry.duration)
            for entry in entries
        ],
        playlist_id=name,
        playlist_title=name,
    )
    ydl.add_default_extra_info(playlist, generic, url)
    return dict(playlist)


def read_as_hls_master(info: dict[str, Any]) -> bool:
    """Whether yt-dlp read the document at the page's own URL as an HLS master playlist (what it makes of any
    ``#EXTM3U`` document, a plain M3U too): a format whose manifest is that URL."""
    page = info.get("webpage_url")
    formats = info.get("formats")
    return isinstance(formats, list) and any(
        isinstance(f, dict)
        and f.get("manifest_url") == page
        and str(f.get("protocol") or "").startswith("m3u8")
        for f in formats
    )


def took_the_document_itself(info: Any) -> bool:
    """Whether yt-dlp's generic extractor took the document at the URL itself for the media: as a direct file
    (a bare list of URLs is text no other extractor claims) or as an HLS master playlist (yt-dlp reads any
    ``#EXTM3U`` document as one). Either may be a plain M3U."""
    if not isinstance(info, dict) or info.get("_type") not in (None, "video"):
        return False
    if info.get("extractor_key") != "Generic":
        return False
    return (bool(info.get("direct")) and _media_is_the_page(info)) or read_as_hls_master(info)


def _media_is_the_page(info: dict[str, Any]) -> bool:
    """Whether the media yt-dlp found is the document at the URL itself, not one a page names (a JSON-LD
    `contentUrl`, a `<video>`): only then may the document be a list (else it is fetched again for
    nothing)."""
    page = info.get("webpage_url")
    formats = info.get("formats")
    if not isinstance(formats, list):
        formats = []
    urls = [info.get("url"), *(f.get("url") for f in formats if isinstance(f, dict))]
    return page is not None and page in urls


def extract_with_plain_m3u(ydl: yt_dlp.YoutubeDL, url: str) -> Any:
    """``ydl.extract_info(url, download=False)``, but a plain M3U at `url` is the playlist of its URLs
    (processed by `ydl` like any playlist), whether yt-dlp took it for one HLS stream, for one direct file,
    or failed on it for good (``ExtractorError``: e.g. a bare list served as HLS's own type). Raises what
    yt-dlp raises (and, the list being read again, what fetching it raises) and `M3uTooLargeError`."""
    try:
        info = ydl.extract_info(url, download=False)
    except Exception as exc:
        if not is_yt_dlp(exc, "DownloadError") or classify(exc) != ("permanent", "ExtractorError"):
            raise  # a network failure, a blocked address, ...: what the document is is no matter
        try:
            playlist = read_plain_m3u(ydl, url)
        except M3uTooLargeError:
            raise
        except Exception:  # the document could not be read again: yt-dlp's failure is the answer
            playlist = None
        if playlist is None:
            raise
        return ydl.process_ie_result(playlist, download=False)
    if took_the_document_itself(info):
        playlist = read_plain_m3u(ydl, url)
        if playlist is not None:
            return ydl.process_ie_result(playlist, download=False)
    return info


def _decode(data: bytes) -> str:
    """UTF-8 (an .m3u8, most lists today), else Latin-1 (an old .m3u)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:  # a character cut at the end of a sniffed prefix
            return data[: exc.start].decode("utf-8-sig")
        return data.decode("latin-1")


def _duration(text: str | None) -> float | None:
    """An ``#EXTINF`` duration in seconds; -1 (and 0) say it is unknown."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None
