"""The `music_lookup` job: a music video's recording on MusicBrainz, cached, with its release's cover."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobcommon import (
    JobContext,
    JobCtx,
    JobStatus,
    MusicLookupRequest,
    PermanentError,
    TransientError,
    keys,
    source_job,
    utcnow,
)
from jobcommon.store import JobStore
from metadata.music_titles import artist_and_song
from metadata.musicbrainz import CoverError, Recording
from metadata.runtime import MetadataRuntime, Runtime
from metadata.settings import MetadataSettings, Settings

# Runtime imports above on purpose: FastStream and pydantic resolve these annotations.

COVER_FILE = "cover-front-250.jpg"


class MusicLookupResult(BaseModel):
    """`music_lookup`: what was looked for, and what MusicBrainz knows of it (null when nothing matched)."""

    model_config = ConfigDict(frozen=True)

    artist: str | None = Field(description="The artist looked for (given, or read from the source).")
    title: str = Field(description="The song looked for.")
    matched: bool
    recording: Recording | None = None
    path: str | None = Field(
        default=None, description="The release's front cover under MEDIA_ROOT (a follow-up's source)."
    )
    cover_error: str | None = Field(default=None, description="Why there is no cover although there is art.")
    cached: bool = Field(description="The answer was in the cache: this job asked MusicBrainz nothing.")
    looked_up_at: datetime


class _Cached(BaseModel):
    recording: Recording | None
    looked_up_at: datetime


@dataclass(frozen=True, slots=True)
class _Wanted:
    artist: str | None
    title: str
    guessed_artist: bool
    """The artist is the uploader's name (no "Artist - Song" title): a miss is tried again without it."""


def _query_hash(artist: str | None, title: str, min_score: int) -> str:
    normal = json.dumps([(artist or "").casefold().strip(), title.casefold().strip(), min_score])
    return hashlib.sha256(normal.encode()).hexdigest()


async def _what_to_look_for(request: MusicLookupRequest, store: JobStore, owner: str | None) -> _Wanted:
    if request.title:
        return _Wanted(request.artist, request.title, guessed_artist=False)
    if not request.sources:
        raise PermanentError(
            "give a title (and an artist), or sources: a finished video_info or download job"
        )
    source = request.sources[0]
    job = await source_job(store, source, owner)
    result = job.result or {}
    title = result.get("title")
    if job.status != JobStatus.SUCCEEDED or not isinstance(title, str) or not title.strip():
        raise PermanentError(
            f"source job {source} is {job.status.value} and has no title", error_type="SourceError"
        )
    uploader = result.get("uploader") or result.get("channel")
    guess = artist_and_song(title, uploader if isinstance(uploader, str) else None)
    if request.artist:
        return _Wanted(request.artist, guess.song, guessed_artist=False)
    return _Wanted(guess.artist, guess.song, guessed_artist=guess.from_uploader)


async def _search(
    ctx: JobContext, runtime: MetadataRuntime, settings: MetadataSettings, artist: str | None, title: str
) -> _Cached:
    """The answer for `artist` + `title`: from the cache, or asked (and cached)."""
    redis = ctx.reporter.store.redis
    key = keys.music_cache(_query_hash(artist, title, settings.musicbrainz_min_score))
    if (raw := await redis.get(key)) is not None:
        try:
            return _Cached.model_validate_json(raw)
        except ValidationError:
            pass  # an older format: asked again
    answer = _Cached(recording=await runtime.music.search(ctx, artist, title), looked_up_at=utcnow())
    await redis.set(key, answer.model_dump_json(), ex=settings.metadata_music_cache_ttl_s)
    return answer


async def music_lookup(
    request: MusicLookupRequest, ctx: JobCtx, settings: Settings, runtime: Runtime
) -> MusicLookupResult:
    """Search MusicBrainz's recordings (one request, at the host's turn; answers cached), then save the first
    official release's front cover (or its release group's) from the Cover Art Archive as the job's output.
    A cover the archive refuses, or that keeps failing to the last attempt, leaves the match without one."""
    wanted = await _what_to_look_for(request, ctx.reporter.store, ctx.job.owner)
    artist = wanted.artist
    await ctx.progress(None, f"looking up {artist + ' - ' if artist else ''}{wanted.title}")
    found = await _search(ctx, runtime, settings, artist, wanted.title)
    if found.recording is None and wanted.guessed_artist:
        artist = None  # the uploader was no artist MusicBrainz knows: the title alone
        found = await _search(ctx, runtime, settings, None, wanted.title)
    recording = found.recording
    path, cover_error = None, None
    if request.cover and recording is not None and recording.release is not None:
        await ctx.progress(50.0, "fetching the cover")
        try:
            image = await runtime.music.front_cover(ctx, recording.release)
        except CoverError as exc:
            image, cover_error = None, exc.message
        except TransientError as exc:
            if ctx.attempt < ctx.job.max_attempts:
                raise
            image, cover_error = None, exc.message  # the match is worth more than the cover
        if image is not None:
            ctx.ensure_dirs()
            await asyncio.to_thread((ctx.output_dir / COVER_FILE).write_bytes, image)
            path = str((ctx.output_dir / COVER_FILE).relative_to(settings.media_root))
    await ctx.progress(100.0, "found" if recording else "no match")
    return MusicLookupResult(
        artist=artist,
        title=wanted.title,
        matched=recording is not None,
        recording=recording,
        path=path,
        cover_error=cover_error,
        cached=found.looked_up_at < ctx.job.created_at,
        looked_up_at=found.looked_up_at,
    )
