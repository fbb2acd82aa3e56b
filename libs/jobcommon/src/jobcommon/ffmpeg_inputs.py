"""FFmpeg reading untrusted files: local files only, and only the demuxers of ordinary media containers.

FFmpeg picks its demuxer by probing the content, whatever the file is called, and some demuxers open other
resources named inside the file: ``hls`` and ``dash`` (segment URLs and paths), ``concat`` (a list of files:
``ffconcat version 1.0`` / ``file other.mp4`` makes any FFmpeg read other files next to it), ``image2``
(file patterns), ``sdp``/``rtsp`` (network streams). `jobcommon.sniff` decides first what a file is; these
whitelists are the second fence, inside FFmpeg itself, wherever it reads user-supplied data:

* protocols: ``file`` and ``pipe`` only (`LOCAL_PROTOCOLS`): no ``http``, ``tcp``, ``udp``, ``crypto``,
  ``data`` … even if a demuxer asks for them;
* formats: the demuxers of the containers `jobcommon.sniff` names as audio or video (`DEMUXERS`), never a
  playlist or list demuxer.

Two ways in: the ffmpeg command line (`cli_input_options`, placed before an ``-i``) and OpenCV's bundled
FFmpeg, which reads its open options from the environment variable `OPENCV_CAPTURE_OPTIONS_ENV` at every
``cv2.VideoCapture`` open (`restrict_opencv`; verified with opencv-python-headless 5.0: a concat list named
``clip.mp4`` and an HLS playlist named ``.m3u8`` are both refused, ``Format not on whitelist``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = [
    "AUDIO_CONTAINERS",
    "DEMUXERS",
    "LOCAL_PROTOCOLS",
    "MEDIA_CONTAINERS",
    "NETWORK_PROTOCOLS",
    "OPENCV_CAPTURE_OPTIONS_ENV",
    "VIDEO_CONTAINERS",
    "cli_input_options",
    "format_whitelist",
    "opencv_capture_options",
    "restrict_opencv",
]

LOCAL_PROTOCOLS = "file,pipe"
"""What FFmpeg may open for a local input, and what anything named inside it may use."""
NETWORK_PROTOCOLS = "http,https,tls,tcp,crypto"
"""What FFmpeg may open when it fetches a URL itself (yt-dlp's external downloader): never a local file."""
OPENCV_CAPTURE_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"

DEMUXERS: dict[str, str] = {
    "mp4": "mov",
    "mov": "mov",
    "3gp": "mov",
    "m4a": "mov",
    "matroska": "matroska",
    "webm": "matroska",
    "avi": "avi",
    "flv": "flv",
    "ogg": "ogg",
    "mpeg": "mpeg",
    "mpegts": "mpegts",
    "mp3": "mp3",
    "aac": "aac",
    "flac": "flac",
    "wav": "wav",
    "aiff": "aiff",
}
"""FFmpeg's demuxer for each audio/video container `jobcommon.sniff` names. A whitelist entry matches any of
a demuxer's names: ``mov`` is the demuxer ``mov,mp4,m4a,3gp,3g2,mj2``, ``matroska`` is ``matroska,webm``;
``aiff`` reads AIFF and AIFF-C."""
VIDEO_CONTAINERS = frozenset({"mp4", "mov", "3gp", "matroska", "webm", "avi", "flv", "ogg", "mpeg", "mpegts"})
AUDIO_CONTAINERS = frozenset({"m4a", "ogg", "mp3", "aac", "flac", "wav", "aiff"})
MEDIA_CONTAINERS = VIDEO_CONTAINERS | AUDIO_CONTAINERS


def format_whitelist(containers: Iterable[str]) -> str:
    """The demuxers of `containers` (sniffed names), as FFmpeg's ``format_whitelist`` takes them.

    Raises KeyError for a container that has no demuxer here (a playlist, an image, an unknown file).
    """
    return ",".join(sorted({DEMUXERS[container] for container in containers}))


def cli_input_options(containers: Iterable[str] = MEDIA_CONTAINERS) -> list[str]:
    """ffmpeg command-line options for the next ``-i``: local protocols and `containers`' demuxers only."""
    return ["-protocol_whitelist", LOCAL_PROTOCOLS, "-format_whitelist", format_whitelist(containers)]


def opencv_capture_options(containers: Iterable[str] = VIDEO_CONTAINERS) -> str:
    """The value of `OPENCV_CAPTURE_OPTIONS_ENV` (``key;value`` pairs joined by ``|``) for `containers`."""
    return f"format_whitelist;{format_whitelist(containers)}|protocol_whitelist;{LOCAL_PROTOCOLS}"


def restrict_opencv(containers: Iterable[str] = VIDEO_CONTAINERS) -> None:
    """Make every later ``cv2.VideoCapture(path, cv2.CAP_FFMPEG)`` of this process open with the whitelists.

    OpenCV reads the variable at each open, from any thread; it is written only when its value differs, so
    calling this before every open costs nothing once set. Call it first before threads open captures:
    changing the environment while another thread reads it is not safe in C.
    """
    value = opencv_capture_options(containers)
    if os.environ.get(OPENCV_CAPTURE_OPTIONS_ENV) != value:
        os.environ[OPENCV_CAPTURE_OPTIONS_ENV] = value
