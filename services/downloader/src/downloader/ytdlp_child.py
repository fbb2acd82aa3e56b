"""One yt-dlp download (or playlist listing) in a child process: ``python -m downloader.ytdlp_child``.

stdin: one `ChildSpec` JSON line, then optionally `ControlMessage` lines (bandwidth share). stdout: JSON
lines (`ProgressEvent`s, then one `DoneEvent`, `EntriesEvent` or `FailedEvent`). stderr: yt-dlp warnings and
errors, for the parent's diagnostics. Exit code 0 after ``done``/``entries``, 1 after ``failed`` (2 when the
spec itself is invalid, 3 when the parent stopped listening).

The parent cancels by SIGKILLing the whole process group, so nothing here cleans up on signals; the
process dying alone (its zygote or service was killed: ``PR_SET_PDEATHSIG``) takes its group along too,
ffmpeg included, by the group's watchdog (`jobcommon.child_side.group_watchdog`); the
``.part`` files stay in ``temp_dir`` and the next attempt resumes from them if the remote file is unchanged
(`downloader.resume`).

The process is dedicated to one untrusted URL, which is what makes the process-wide audit hooks acceptable:
the SSRF connect guard (`jobcommon.netguard`) and the write jail (`downloader.fsjail`: nothing outside the
job's directories can be written) are installed before anything touches the network. ``RLIMIT_FSIZE``
backs up the size limit for every file this process or its ffmpeg writes (`downloader.size_limit`).
The download itself is `downloader.fetch`, the listing `downloader.listing`. Its spans
(`downloader.child_spans`) go to the parent as protocol lines, all ended before the final event.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import BinaryIO

from downloader.child_protocol import (
    ChildEvent,
    ChildSpec,
    ControlMessage,
    DoneEvent,
    EntriesEvent,
    FailedEvent,
    dump_event,
)
from downloader.child_spans import StageSpans, child_recorder
from downloader.failures import FileTooLargeError, classify
from downloader.fetch import download
from downloader.fsjail import install_write_jail
from downloader.listing import list_playlist
from downloader.resume import wipe
from downloader.size_limit import hit_size_limit, limit_file_size
from downloader.throttle import Throttle
from jobcommon.child_side import ProtocolOut, die_with_parent, group_watchdog
from jobcommon.netguard import install_connect_guard
from jobcommon.span_records import recording
from jobcommon.ytdlp.failures import one_line

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_BAD_SPEC = 2


def _follow_controls(stream: BinaryIO, throttle: Throttle) -> None:
    """Apply the parent's `ControlMessage`s (bandwidth share) until stdin ends."""
    for line in stream:
        if not line.strip():
            continue
        try:
            message = ControlMessage.model_validate_json(line)
        except ValueError as exc:
            print(f"ignoring an invalid control line: {one_line(exc)}", file=sys.stderr, flush=True)
            continue
        throttle.set_rate(message.share_limit)


def _failed(spec: ChildSpec, exc: Exception) -> FailedEvent:
    """The failure to report; a permanently failed download leaves no partial file to resume."""
    failure: BaseException = exc
    if spec.action == "download" and not isinstance(exc, FileTooLargeError) and hit_size_limit(spec):
        failure = FileTooLargeError(f"the media is larger than the limit of {spec.max_filesize} bytes")
    kind, error_type = classify(failure)
    if kind == "permanent" and spec.action == "download":
        wipe(Path(spec.temp_dir))
    return FailedEvent(kind=kind, error_type=error_type, message=one_line(failure))


def main() -> int:
    die_with_parent()
    with group_watchdog():  # however this process dies, its ffmpeg dies with it
        return _run()


def _run() -> int:
    sys.dont_write_bytecode = True
    out = ProtocolOut()
    stdin = sys.stdin.buffer
    try:
        spec = ChildSpec.model_validate_json(stdin.readline())
    except Exception as exc:
        out.write(dump_event(FailedEvent(kind="permanent", error_type="InvalidSpec", message=one_line(exc))))
        return EXIT_BAD_SPEC
    # before any network access or file write
    install_connect_guard(allow_private=spec.allow_private_networks, allowed_networks=spec.allowed_networks)
    install_write_jail([spec.output_dir, spec.temp_dir])
    limit_file_size(spec.max_filesize)
    throttle = Throttle(spec.share_limit)
    threading.Thread(target=_follow_controls, args=(stdin, throttle), name="controls", daemon=True).start()

    recorder = child_recorder(spec.traceparent, out.write)
    stages = StageSpans(recorder)

    def emit(event: ChildEvent) -> None:
        stages.seen(event)
        out.write(dump_event(event))

    with recording(recorder):
        try:
            if spec.action == "list":
                with recorder.span("ytdlp list"):
                    result: DoneEvent | EntriesEvent = list_playlist(spec, emit)
            else:
                result = download(spec, emit, throttle)
        except Exception as exc:
            failed = _failed(spec, exc)
            recorder.close(exc, failed.error_type)
            emit(failed)
            return EXIT_FAILED
        recorder.close()
    emit(result)
    return EXIT_DONE


if __name__ == "__main__":
    sys.exit(main())
