"""Web pages for metadata tests, served by `MediaServer` (``{BASE}`` becomes its base URL): an HTML page with
a ``<video>``, one describing its video only in JSON-LD, an RSS feed of enclosures, and a page whose body
stalls the fetch."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

VIDEO_PAGE = """<html><head><title>A page</title>
<meta property="og:title" content="Video page">
<meta property="og:image" content="{BASE}/poster.jpg">
</head><body>
<video poster="{BASE}/poster.jpg"><source src="{BASE}/clip.mp4" type="video/mp4"></video>
</body></html>
"""

JSON_LD_PAGE = """<html><head><title>LD page</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "VideoObject",
 "name": "LD Video", "description": "Described in JSON-LD", "duration": "PT1M30S",
 "width": 1280, "height": 720, "uploadDate": "2024-03-04T05:06:07Z",
 "thumbnailUrl": "{BASE}/thumb.jpg", "contentUrl": "{BASE}/clip.mp4", "keywords": "alpha,beta"}</script>
</head><body><p>No video element here.</p></body></html>
"""

RSS_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
<title>Clip feed</title><link>{BASE}/</link><description>Three clips</description>
<item><title>Episode 1</title><guid>ep1</guid><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate>
 <itunes:duration>00:03</itunes:duration>
 <enclosure url="{BASE}/clip.mp4?ep=1" type="video/mp4" length="1"/></item>
<item><title>Episode 2</title><guid>ep2</guid>
 <enclosure url="{BASE}/clip.mp4?ep=2" type="video/mp4" length="1"/></item>
<item><title>Episode 3</title><guid>ep3</guid>
 <enclosure url="{BASE}/clip.mp4?ep=3" type="video/mp4" length="1"/></item>
</channel></rss>
"""

FEED_TITLES = ["Episode 1", "Episode 2", "Episode 3"]


def write_pages(root: Path) -> None:
    """page.html, ld.html, feed.rss and big.html (200 KB: under /stall/ its fetch hangs after 64 KiB)."""
    (root / "page.html").write_text(VIDEO_PAGE)
    (root / "ld.html").write_text(JSON_LD_PAGE)
    (root / "feed.rss").write_text(RSS_FEED)
    (root / "big.html").write_text(
        "<html><head><title>big</title></head><body>" + "x" * 200_000 + "</body></html>"
    )
