"""The `playlist_download` job: list the entries (yt-dlp's flat extraction, in a killable child), then one
`video_download` child job per entry; the job ends when its last child ends (see jobcommon.children).

Each entry is a job of its own — retried, cancelled and traced on its own — so a 500-entry playlist never
holds one worker for hours, and one bad entry never stops the rest.
"""

from __future__ import annotations

from pydantic import ValidationError

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
from jobcommon.requests.download import MAX_TITLE_LENGTH
from jobcommon.ytdlp.smuggling import smuggle, unsmuggle

DISPLAY_ONLY_SMUGGLED = frozenset({"force_videoid"})
"""Data yt-dlp smuggles into entry URLs that changes nothing in a download: its generic extractor takes
`force_videoid` (an RSS item's guid) as the video's id, and downloads here are named `media.<ext>` whatever
the id."""


def entry_download(
    url: str, title: str | None, request: PlaylistDownloadRequest
) -> VideoDownloadRequest | None:
    """The `video_download` of one entry, titled as its playlist names it (a title no request may carry,
    control or bidi characters, say, is left to what yt-dlp finds); None for an entry whose URL no download
    may take (a bad port, a blank in its host, ...): one odd entry does not fail the whole playlist."""
    shown = " ".join(title.split())[:MAX_TITLE_LENGTH] if title else ""
    child = {"url": entry_url(url), "options": request.options, "allow_duplicate": True}
    for candidate in ({**child, "title": shown}, child) if shown else (child,):
        try:
            return VideoDownloadRequest.model_validate(candidate)
        except ValidationError:
            continue
    return None


def entry_url(url: str) -> str:
    """The URL an entry's job downloads and shows: without the data yt-dlp smuggled into it, unless that data
    changes how yt-dlp fetches the entry (a referer, a forced extractor, a token): then only that is kept."""
    plain, data = unsmuggle(url)
    needed = {key: value for key, value in data.items() if key not in DISPLAY_ONLY_SMUGGLED}
    return smuggle(plain, needed) if needed else plain


async def playlist_download(
    request: PlaylistDownloadRequest, ctx: JobCtx, settings: Settings, limits: HostTurns
) -> AwaitChildren:
    await ctx.progress(None, "listing entries")
    ctx.temp_dir.mkdir(parents=True, exist_ok=True)  # for the listing; its output is its entries' own
    spec = list_spec(request.url, ctx.temp_dir, settings, items=request.items, limit=request.limit)
    try:
        listing = await list_entries(spec, before_start=lambda: limits.take_turn(ctx, request.url))
    except ChildFailed as exc:
        raise exc.to_job_error() from exc
    made = [entry_download(entry.url, entry.title, request) for entry in listing.entries]
    children = [child for child in made if child is not None]
    if not children:
        raise PermanentError("the playlist has no downloadable entries", error_type="EmptyPlaylist")
    skipped = len(made) - len(children)
    await ctx.progress(
        0.0,
        f"{len(children)} entries"
        + (f" ({skipped} skipped: URLs no download may take)" if skipped else "")
        + (" (list truncated)" if listing.truncated else ""),
        items_total=len(children),
        items_done=0,
        items_failed=0,
        items_cancelled=0,
    )
    return await spawn_children(ctx, children, concurrency=request.concurrency)
