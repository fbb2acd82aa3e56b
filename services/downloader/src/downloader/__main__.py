"""Run the downloader service: `python -m downloader`."""

from __future__ import annotations

import asyncio

from downloader.app import build
from jobcommon.logs import configure_logging


def main() -> None:
    configure_logging("downloader")
    asyncio.run(build().run())


if __name__ == "__main__":
    main()
