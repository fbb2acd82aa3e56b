"""The logger a yt-dlp child hands to ``YoutubeDL``: screen and debug output dropped, problems on stderr."""

from __future__ import annotations

import sys


class QuietLogger:
    """yt-dlp ``logger`` param: warnings and errors go to stderr (the parent keeps their last lines for a
    crash message); everything else is dropped, so nothing but the protocol reaches the parent's stdout."""

    def __init__(self) -> None:
        self.too_large = False
        """yt-dlp skipped the media for its ``max_filesize`` (it only says so in a debug line)."""

    def debug(self, msg: str) -> None:
        if "max-filesize" in msg:
            self.too_large = True

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    def error(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)
