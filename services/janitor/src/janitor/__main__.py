"""Run the janitor service: `python -m janitor`."""

from __future__ import annotations

import asyncio

from janitor.app import build
from jobcommon.logs import configure_logging


def main() -> None:
    configure_logging("janitor")
    asyncio.run(build().run())


if __name__ == "__main__":
    main()
