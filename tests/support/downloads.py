"""A served tree for downloader feature tests (all offline, written once per test module).

``write_download_site(root)`` creates, below ``root``:

- ``clip.mp4`` (3 s, 320x240, no audio, ~110 KB), ``big.mp4`` (8 s 640x480 noise, ~3.8 MB),
  ``mid.mp4`` (4 s 640x480 noise, ~1.9 MB: long enough under ``/veryslow/`` for many concurrent downloads)
- ``av/``: ``video_only.mp4`` (H.264) + ``audio_only.m4a`` (AAC) and ``av.mpd``, a static DASH manifest
  whose two ``BaseURL`` representations yt-dlp's generic extractor turns into a video-only and an audio-only
  plain-HTTP format (the default format ``bv*+ba`` then merges them with ffmpeg). An HTML ``<video>`` page
  can't pair separate files and an HLS master would need the audio segmented too; DASH is the simple way.
- ``muxed.mp4``: the same two streams in one file (for ``audio_only``)
- ``hls/index.m3u8`` + ``hls/segNNN.ts``: ``clip.mp4`` as 1 s H.264 MPEG-TS segments (3 s)
- ``subs.html``: a ``<video>`` with a poster and three ``<track>`` subtitles whose languages are hostile
  (``../../evil``, 300 characters, control characters), ``sub.vtt``, ``poster.jpg``
- ``feed.rss``: three http enclosures and an ``ftp://`` one
- ``odd/``: a file whose name has control characters and is 230 bytes long (see ``ODD_NAME``)
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING
from urllib.parse import quote

import cv2
import numpy as np

from tests.support.media import _ffmpeg, make_av_pair, make_hls, make_mp4

if TYPE_CHECKING:
    from pathlib import Path

ODD_NAME = "\x01evil\nname " + "x" * 210 + ".mp4"
ODD_PATH = "odd/" + quote(ODD_NAME)
"""URL path of the odd file (percent-encoded)."""
HOSTILE_LANGS = ("../../evil", "y" * 300, "en\x07\x1b[31m")

MPD = """<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT5S"
     minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">
 <Period>
  <AdaptationSet mimeType="video/mp4" contentType="video">
   <Representation id="v240" codecs="avc1.42C00D" width="320" height="240" bandwidth="200000">
    <BaseURL>video_only.mp4</BaseURL>
   </Representation>
  </AdaptationSet>
  <AdaptationSet mimeType="audio/mp4" contentType="audio" lang="en">
   <Representation id="a64" codecs="mp4a.40.2" bandwidth="64000" audioSamplingRate="44100">
    <BaseURL>audio_only.m4a</BaseURL>
   </Representation>
  </AdaptationSet>
 </Period>
</MPD>
"""

SUBS_PAGE = """<html><head><title>Subs page</title></head><body>
<video poster="{{BASE}}/poster.jpg"><source src="{{BASE}}/clip.mp4" type="video/mp4">
{tracks}
</video></body></html>
"""

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
<title>Clip feed</title><link>{BASE}/</link><description>Clips</description>
<item><title>Episode 1</title><guid>ep1</guid><itunes:duration>00:03</itunes:duration>
 <enclosure url="{BASE}/clip.mp4?ep=1" type="video/mp4" length="1"/></item>
<item><title>Episode 2</title><guid>ep2</guid>
 <enclosure url="{BASE}/clip.mp4?ep=2" type="video/mp4" length="1"/></item>
<item><title>Episode 3</title><guid>ep3</guid>
 <enclosure url="{BASE}/clip.mp4?ep=3" type="video/mp4" length="1"/></item>
<item><title>Not http</title><guid>ep4</guid>
 <enclosure url="ftp://127.0.0.1/clip.mp4" type="video/mp4" length="1"/></item>
</channel></rss>
"""
FEED_TITLES = ["Episode 1", "Episode 2", "Episode 3"]


def write_download_site(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    make_mp4(root / "clip.mp4", seconds=3.0)
    make_mp4(root / "big.mp4", seconds=8.0, width=640, height=480, noise=True)
    make_mp4(root / "mid.mp4", seconds=4.0, width=640, height=480, noise=True)
    video, audio = make_av_pair(root / "av")
    (root / "av" / "av.mpd").write_text(MPD)
    muxed = root / "muxed.mp4"
    if not muxed.exists():
        tmp = root / ".muxed.partial.mp4"
        _ffmpeg("-i", str(video), "-i", str(audio), "-c", "copy", str(tmp))
        os.replace(tmp, muxed)
    make_hls(root / "hls", root / "clip.mp4")
    cv2.imwrite(str(root / "poster.jpg"), np.full((90, 160, 3), 128, np.uint8))
    (root / "sub.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
    tracks = "\n".join(
        f'<track kind="subtitles" srclang="{lang}" src="{{BASE}}/sub.vtt">' for lang in ("en", *HOSTILE_LANGS)
    )
    (root / "subs.html").write_text(SUBS_PAGE.format(tracks=tracks))
    (root / "feed.rss").write_text(FEED)
    (root / "odd").mkdir(exist_ok=True)
    shutil.copyfile(root / "clip.mp4", root / "odd" / ODD_NAME)
    return root
