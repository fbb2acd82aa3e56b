"""Run the downloader service: `python -m downloader`."""

from __future__ import annotations

from downloader.app import build
from jobcommon import configure_logging


def main() -> None:
    configure_logging("downloader")
    build().serve()


if __name__ == "__main__":
    main()
