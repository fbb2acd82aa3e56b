"""The `video_download` job: yt-dlp in a child process, progress relayed, result verified."""

from __future__ import annotations

from pathlib import Path

from downloader.child_protocol import ChildFailed, ChildSpec, ProgressEvent
from downloader.child_runner import run_child
from downloader.settings import Settings
from jobcommon import DownloadResult, JobCtx, PermanentError, TransientError, VideoDownloadRequest


async def video_download(request: VideoDownloadRequest, ctx: JobCtx, settings: Settings) -> DownloadResult:
    """Download one video into MEDIA_ROOT/<task_id>/media.<ext>.

    yt-dlp runs in its own process group, so a cancel (or the service stopping) kills it at once even while
    a server stalls; the job middleware then removes the partial output.
    """
    ctx.ensure_dirs()
    spec = ChildSpec(
        url=request.url,
        output_dir=str(ctx.output_dir),
        temp_dir=str(ctx.temp_dir),
        format=request.options.format,
        socket_timeout=settings.download_socket_timeout_s,
        retries=settings.download_retries,
        allow_private_networks=settings.download_allow_private_networks,
        ffmpeg_location=settings.ffmpeg_location,
        max_filesize=settings.download_max_filesize,
    )

    async def relay(event: ProgressEvent) -> None:
        percent = None
        if event.downloaded_bytes is not None and event.total_bytes:
            percent = 100.0 * event.downloaded_bytes / event.total_bytes
        await ctx.progress(
            percent,
            "downloading",
            downloaded_bytes=event.downloaded_bytes,
            total_bytes=event.total_bytes,
            speed=event.speed,
            eta=event.eta,
        )

    await ctx.progress(0.0, "starting")
    try:
        done = await run_child(spec, relay)
    except ChildFailed as exc:
        error = TransientError if exc.kind == "transient" else PermanentError
        raise error(exc.message, error_type=exc.error_type) from exc
    await ctx.progress(100.0, "downloaded", downloaded_bytes=done.size, total_bytes=done.size)
    return DownloadResult(
        path=str(Path(done.path).relative_to(settings.media_root)),
        size=done.size,
        sha256=done.sha256,
        title=done.title,
        ext=done.ext,
        duration=done.duration,
        width=done.width,
        height=done.height,
        source_url=request.url,
    )
