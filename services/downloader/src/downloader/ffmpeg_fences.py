"""What ffmpeg may read when yt-dlp runs it: local media only for post-processing, never a local file when
it fetches a URL itself.

A downloaded file is the server's bytes under a name yt-dlp chose: ``media.mp4`` may be an ffconcat list or
a playlist, which ffmpeg would follow to other files. yt-dlp starts ffmpeg in three ways, each fenced here
with `jobcommon.ffmpeg_inputs`:

* post-processors (merge, remux, audio extraction, fixups) take ``postprocessor_args``: every ffmpeg-based
  post-processor gets the local-media whitelists before each of its inputs (`postprocessor_args`; yt-dlp
  reads input options only under ``<post-processor>+ffmpeg_i``, there is no key for all of them);
* their codec and stream probes (``get_audio_codec`` runs ``ffmpeg -i``, ``get_metadata_object`` ffprobe)
  take no options from the parameters: `fence_probes` lets them look only at files whose magic bytes are an
  audio or video container, and gives ffprobe the whitelists too;
* the external downloader (ffmpeg fetching a URL; refused anyway while the connect guard is on, see
  `downloader.external_fetchers`) gets network protocols only (`external_downloader_args`), so a remote
  playlist cannot name a local file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from downloader.failures import NotMediaError
from downloader.media_check import describe
from downloader.media_probe import media_container
from jobcommon.ffmpeg_inputs import NETWORK_PROTOCOLS, cli_input_options
from jobcommon.sniff import read_head, sniff


def _ffmpeg_postprocessors() -> set[type[Any]]:
    import yt_dlp.postprocessor  # noqa: F401  (registers every built-in post-processor)
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    found: set[type[Any]] = set()
    todo: list[type[Any]] = [FFmpegPostProcessor]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.add(cls)
            todo.extend(cls.__subclasses__())
    return found


def postprocessor_args() -> dict[str, list[str]]:
    """yt-dlp's ``postprocessor_args``: the local-media whitelists before every input of every ffmpeg-based
    post-processor (imports yt-dlp)."""
    options = cli_input_options()
    return {f"{pp.pp_key().lower()}+ffmpeg_i": options for pp in _ffmpeg_postprocessors()}


def external_downloader_args() -> dict[str, list[str]]:
    """yt-dlp's ``external_downloader_args``: ffmpeg fetching a URL may use network protocols only."""
    return {"ffmpeg_i": ["-protocol_whitelist", NETWORK_PROTOCOLS]}


def _what(path: Path) -> str:
    """``<file name> is <what its bytes look like>``: no directory, which is the host's."""
    try:
        what = describe(sniff(path), read_head(path))
    except OSError:
        what = "unreadable"
    return f"{path.name} is {what}"


def fence_probes() -> None:
    """Patch yt-dlp's ffmpeg probes in this process (idempotent): a file whose magic bytes announce no audio
    or video container has no audio codec and is not probed for streams (`NotMediaError`: the download
    fails); ffprobe reads with the whitelists."""
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    if getattr(FFmpegPostProcessor, "_mediajobs_fenced", False):
        return
    audio_codec = FFmpegPostProcessor.get_audio_codec
    metadata_object = FFmpegPostProcessor.get_metadata_object

    def get_audio_codec(self: Any, path: str) -> str | None:
        return audio_codec(self, path) if media_container(path) is not None else None

    def get_metadata_object(self: Any, path: str, opts: list[str] | None = None) -> Any:
        if media_container(path) is None:
            raise NotMediaError(f"not a media file: {_what(Path(path))}; it was not probed")
        return metadata_object(self, path, [*cli_input_options(), *(opts or [])])

    FFmpegPostProcessor.get_audio_codec = get_audio_codec
    FFmpegPostProcessor.get_metadata_object = get_metadata_object
    FFmpegPostProcessor._mediajobs_fenced = True
