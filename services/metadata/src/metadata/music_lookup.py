"""The `music_lookup` job: a music video's recording on MusicBrainz, cached, with its release's cover."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobcommon import JobCtx, JobNotFound, JobStatus, MusicLookupRequest, PermanentError, keys, utcnow
from jobcommon.store import JobStore
from metadata.music_titles import artist_and_song
from metadata.musicbrainz import Recording
from metadata.runtime import Runtime
from metadata.settings import Settings

# Runtime imports above on purpose: FastStream and pydantic resolve these annotations.

COVER_FILE = "cover-front-250.jpg"


class MusicLookupResult(BaseModel):
    """`music_lookup`: what was looked for, and what MusicBrainz knows of it (null when nothing matched)."""

    model_config = ConfigDict(frozen=True)

    artist: str | None = Field(description="The artist looked for (given, or read from the source's title).")
    title: str = Field(description="The song looked for.")
    matched: bool
    recording: Recording | None = None
    path: str | None = Field(
        default=None, description="The release's front cover under MEDIA_ROOT (a follow-up's source)."
    )
    cached: bool = Field(description="The search answer came from the cache (no request to MusicBrainz).")
    looked_up_at: datetime


class _Cached(BaseModel):
    recording: Recording | None
    looked_up_at: datetime


def _query_hash(artist: str | None, title: str) -> str:
    normal = json.dumps([(artist or "").casefold().strip(), title.casefold().strip()])
    return hashlib.sha256(normal.encode()).hexdigest()


async def _what_to_look_for(request: MusicLookupRequest, store: JobStore) -> tuple[str | None, str]:
    if request.title:
        return request.artist, request.title
    if not request.sources:
        raise PermanentError(
            "give a title (and an artist), or sources: a finished video_info or download job"
        )
    source = request.sources[0]
    try:
        job = await store.get(source)
    except JobNotFound:
        raise PermanentError(f"source job {source} is unknown or expired", error_type="SourceError") from None
    result = job.result or {}
    title = result.get("title")
    if job.status != JobStatus.SUCCEEDED or not isinstance(title, str) or not title.strip():
        raise PermanentError(
            f"source job {source} is {job.status.value} and has no title", error_type="SourceError"
        )
    uploader = result.get("uploader") or result.get("channel")
    artist, song = artist_and_song(title, uploader if isinstance(uploader, str) else None)
    return request.artist or artist, song


async def music_lookup(
    request: MusicLookupRequest, ctx: JobCtx, settings: Settings, runtime: Runtime
) -> MusicLookupResult:
    """Search MusicBrainz's recordings (one request, at the host's turn; answers cached), then save the first
    official release's front cover from the Cover Art Archive as the job's output."""
    store = ctx.reporter.store
    artist, title = await _what_to_look_for(request, store)
    cache_key = keys.music_cache(_query_hash(artist, title))
    await ctx.progress(None, f"looking up {artist + ' - ' if artist else ''}{title}")
    cached: _Cached | None = None
    if (raw := await store.redis.get(cache_key)) is not None:
        try:
            cached = _Cached.model_validate_json(raw)
        except ValidationError:
            cached = None  # an older format: looked up again
    hit = cached is not None
    if cached is None:
        cached = _Cached(recording=await runtime.music.search(ctx, artist, title), looked_up_at=utcnow())
        await store.redis.set(cache_key, cached.model_dump_json(), ex=settings.metadata_music_cache_ttl_s)
    recording = cached.recording
    path = None
    if request.cover and recording is not None and recording.release is not None:
        await ctx.progress(50.0, "fetching the cover")
        ctx.ensure_dirs()
        if await runtime.music.front_cover(ctx, recording.release.id, ctx.output_dir / COVER_FILE):
            path = str((ctx.output_dir / COVER_FILE).relative_to(settings.media_root))
    await ctx.progress(100.0, "found" if recording else "no match")
    return MusicLookupResult(
        artist=artist,
        title=title,
        matched=recording is not None,
        recording=recording,
        path=path,
        cached=hit,
        looked_up_at=cached.looked_up_at,
    )
