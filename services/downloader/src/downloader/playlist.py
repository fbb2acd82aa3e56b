"""The `playlist_download` job: list the entries (yt-dlp's flat extraction, in a killable child), then one
`video_download` child job per entry; the job ends when its last child ends (see jobcommon.children).

Each entry is a job of its own — retried, cancelled and traced on its own — so a 500-entry playlist never
holds one worker for hours, and one bad entry never stops the rest.
"""

from __future__ import annotations

from downloader.child_runner import list_entries
from downloader.settings import HostTurns, Settings
from downloader.specs import list_spec
from jobcommon import (
    AwaitChildren,
    ChildFailed,
    JobCtx,
    PermanentError,
    PlaylistDownloadRequest,
    VideoDownloadRequest,
    spawn_children,
)


async def playlist_download(
    request: PlaylistDownloadRequest, ctx: JobCtx, settings: Settings, limits: HostTurns
) -> AwaitChildren:
    await ctx.progress(None, "listing entries")
    ctx.ensure_dirs()
    spec = list_spec(request.url, ctx.temp_dir, settings, items=request.items, limit=request.limit)
    try:
        listing = await list_entries(spec, before_start=lambda: limits.take_turn(ctx, request.url))
    except ChildFailed as exc:
        raise exc.to_job_error() from exc
    if not listing.entries:
        raise PermanentError("the playlist has no downloadable entries", error_type="EmptyPlaylist")
    children = [
        VideoDownloadRequest(url=entry.url, options=request.options, allow_duplicate=True)
        for entry in listing.entries
    ]
    await ctx.progress(
        0.0,
        f"{len(children)} entries" + (" (list truncated)" if listing.truncated else ""),
        items_total=len(children),
        items_done=0,
        items_failed=0,
    )
    return await spawn_children(ctx, children, concurrency=request.concurrency)
