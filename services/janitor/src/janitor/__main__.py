"""Run the janitor service: `python -m janitor`."""

from __future__ import annotations

from janitor.app import build
from jobcommon import configure_logging


def main() -> None:
    configure_logging("janitor")
    build().serve()


if __name__ == "__main__":
    main()
