"""Run the imaging service: `python -m imaging`."""

from __future__ import annotations


def main() -> None:
    # Imported here, not at module level: the CPU pool's spawned processes import this module as their
    # `__main__`, and they need none of the service (FastStream, Redis, OpenTelemetry).
    from imaging.app import build
    from jobcommon import configure_logging

    configure_logging("imaging")
    build().serve()


if __name__ == "__main__":
    main()
