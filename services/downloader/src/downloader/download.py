"""The `video_download` job: yt-dlp in a child process, progress relayed, result verified."""

from __future__ import annotations

import asyncio
from pathlib import Path

from downloader.bandwidth import Bandwidth
from downloader.child_protocol import ProgressEvent
from downloader.child_runner import run_child
from downloader.disk import free_space
from downloader.settings import DownloaderSettings, HostTurns, Settings
from downloader.specs import download_spec
from jobcommon import ChildFailed, DownloadResult, JobCtx, TransientError, VideoDownloadRequest
from jobcommon.metrics import DOWNLOADED_BYTES
from jobcommon.redaction import redact
from jobcommon.ytdlp.smuggling import unsmuggled


async def check_free_space(settings: DownloaderSettings) -> None:
    """TransientError while MEDIA_ROOT has less than ``DOWNLOAD_MIN_FREE_BYTES`` free."""
    if not settings.download_min_free_bytes:
        return
    free = await asyncio.to_thread(free_space, settings.media_root)
    if free < settings.download_min_free_bytes:
        raise TransientError(
            f"only {free} bytes free in MEDIA_ROOT; "
            f"downloads need at least {settings.download_min_free_bytes}",
            error_type="InsufficientSpace",
        )


async def video_download(
    request: VideoDownloadRequest, ctx: JobCtx, settings: Settings, bandwidth: Bandwidth, limits: HostTurns
) -> DownloadResult:
    """Download one video into MEDIA_ROOT/<task_id>/media.<ext> (extra files beside it).

    yt-dlp runs in its own process group, so a cancel (or the service stopping) kills it at once even while
    a server stalls; the job middleware then removes the partial output. It starts at its turn at the
    host's shared rate limit (`RATE_LIMITS`), waiting for it without a worker slot when it is far.
    """
    await check_free_space(settings)
    ctx.ensure_dirs()

    async def relay(event: ProgressEvent) -> None:
        if event.stage != "downloading":
            await ctx.progress(None, event.stage)
            return
        percent = None
        if event.downloaded_bytes is not None and event.total_bytes:
            percent = min(100.0, 100.0 * event.downloaded_bytes / event.total_bytes)
        await ctx.progress(
            percent,
            "downloading",
            downloaded_bytes=event.downloaded_bytes,
            total_bytes=event.total_bytes,
            speed=event.speed,
            eta=event.eta,
        )

    await ctx.progress(0.0, "starting")
    with bandwidth.member() as control:
        spec = download_spec(
            request.url,
            request.options,
            ctx.output_dir,
            ctx.temp_dir,
            settings,
            share_limit=control.share_limit,
        )
        try:
            done = await run_child(
                spec,
                relay,
                before_start=lambda: limits.take_turn(ctx, request.url),
                control=control,
                inactivity_timeout=settings.download_timeout_s,
                forkserver=settings.download_forkserver,
            )
        except ChildFailed as exc:
            raise exc.to_job_error() from exc
    await ctx.progress(100.0, "downloaded", downloaded_bytes=done.size, total_bytes=done.size)
    DOWNLOADED_BYTES.labels(request.job_type).inc(done.size)
    root = settings.media_root
    return DownloadResult(
        path=str(Path(done.path).relative_to(root)),
        size=done.size,
        sha256=done.sha256,
        title=request.title or done.title,
        ext=done.ext,
        duration=done.duration,
        width=done.width,
        height=done.height,
        # what yt-dlp smuggled into the URL is for it alone, and credentials for the fetch alone: the request
        # keeps them (retries, follow-ups), the result is what people read
        source_url=redact(unsmuggled(request.url)),
        extra_files=[
            extra.model_copy(update={"path": str(Path(extra.path).relative_to(root))})
            for extra in done.extra_files
        ],
        resumed_from=done.resumed_from,
    )
