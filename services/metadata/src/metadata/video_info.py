"""The `video_info` job: what a URL's source says about its video, from the cache or extracted now."""

from __future__ import annotations

from jobcommon import ChildFailed, JobCtx, VideoInfoRequest
from metadata.lookup import FoundInfo
from metadata.results import VideoInfoResult
from metadata.runtime import Runtime


def info_result(url: str, found: FoundInfo) -> VideoInfoResult:
    return VideoInfoResult.model_validate(
        {
            **found.info.model_dump(),
            "url": url,
            "normalized_url": found.normalized_url,
            "cached": found.cached,
            "cached_at": found.cached_at,
        }
    )


async def video_info(request: VideoInfoRequest, ctx: JobCtx, runtime: Runtime) -> VideoInfoResult:
    """yt-dlp extraction without download (generic and html5 extractors only), cached by normalized URL.

    A cancel or time limit kills the extracting child process at once.
    """
    await ctx.progress(None, "refreshing" if request.refresh else "looking up")
    try:
        found = await runtime.lookup.info(
            request.url, lambda url: runtime.host_limits.take_turn(ctx, url), refresh=request.refresh
        )
    except ChildFailed as exc:
        raise exc.to_job_error() from None
    await ctx.progress(100.0, "from cache" if found.cached else "extracted")
    return info_result(request.url, found)
