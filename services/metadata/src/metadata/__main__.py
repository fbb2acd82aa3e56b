"""Run the metadata service: `python -m metadata`."""

from __future__ import annotations

from jobcommon import configure_logging
from metadata.app import build


def main() -> None:
    configure_logging("metadata")
    build().serve()


if __name__ == "__main__":
    main()
