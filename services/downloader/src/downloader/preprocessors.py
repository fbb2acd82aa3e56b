"""The child's own yt-dlp pre-processors: the duration limit and safe names before any byte is downloaded,
and the resume check right before the download (`downloader.resume`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from downloader.failures import DurationTooLongError, PlaylistUrlError
from downloader.file_names import sanitize_names
from downloader.m3u import read_as_hls_master, read_plain_m3u
from jobcommon.ytdlp.values import as_float

if TYPE_CHECKING:
    from downloader.child_protocol import ChildSpec
    from downloader.resume import ResumeGuard

OWN_PREPROCESSORS = frozenset({"MediaJobsGuard", "MediaJobsResume"})
"""Their names as yt-dlp reports them to the post-processor hook (they are no post-processing)."""


def make_preprocessors(spec: ChildSpec, guard: ResumeGuard) -> list[tuple[Any, str]]:
    """(post-processor, when) pairs for ``YoutubeDL.add_post_processor``; imports yt-dlp."""
    from yt_dlp.postprocessor.common import PostProcessor

    class MediaJobsGuardPP(PostProcessor):  # type: ignore[misc]
        """'video' stage: duration limit (before any byte is downloaded) and safe file names; a plain M3U list
        that yt-dlp took for an HLS stream is refused (its "segments" would be the bytes of media files)."""

        def run(self, info: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            if info.get("extractor_key") == "Generic" and read_as_hls_master(info):
                listed = read_plain_m3u(self._downloader, str(info["webpage_url"]))
                if listed is not None:
                    raise PlaylistUrlError(
                        f"this URL is an M3U list of {len(listed['entries'])} media URLs, not one video:"
                        " submit it as a playlist_download"
                    )
            duration = as_float(info.get("duration"))
            if spec.max_duration is not None and duration is not None and duration > spec.max_duration:
                raise DurationTooLongError(
                    f"the media is {duration:g} s long; the limit is {spec.max_duration:g} s"
                )
            sanitize_names(info)
            return [], info

    class MediaJobsResumePP(PostProcessor):  # type: ignore[misc]
        """'before_dl' stage: keep the partial files only if the remote file is unchanged."""

        def run(self, info: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
            guard.check(self._downloader, info)
            return [], info

    return [(MediaJobsGuardPP(), "video"), (MediaJobsResumePP(), "before_dl")]
