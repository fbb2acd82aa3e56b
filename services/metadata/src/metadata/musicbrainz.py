"""MusicBrainz recording search and the Cover Art Archive, over plain httpx (WS/2 JSON).

MusicBrainz asks every client for a meaningful User-Agent and at most one request a second: each request takes
a turn at the host's shared rate limit (`jobcommon.host_limits`; the metadata service adds a `1/s` rule for
the MusicBrainz host unless RATE_LIMITS names it), so every replica together keeps to it. Answers map onto
the error tree: 503/429/5xx and network trouble are transient (retried; MusicBrainz answers 503 when it is
over its limit), other 4xx permanent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from jobcommon import PermanentError, Retry, TransientError

if TYPE_CHECKING:
    from jobcommon import HostLimits, JobContext

COVER_MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 3
_LUCENE_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/]|&&|\|\|)')


class ArtistCredit(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    id: str | None = Field(default=None, description="The artist's MBID.")


class ReleaseInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The release's MBID.")
    title: str | None = None
    date: str | None = None
    country: str | None = None
    release_group_id: str | None = None


class Recording(BaseModel):
    """The best recording MusicBrainz found."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The recording's MBID.")
    title: str
    score: int = Field(description="MusicBrainz's search score, 0-100.")
    artists: list[ArtistCredit] = Field(default_factory=list)
    length_s: float | None = None
    isrcs: list[str] = Field(default_factory=list)
    first_release_date: str | None = None
    release: ReleaseInfo | None = Field(default=None, description="Its first official release, if any.")


def lucene_phrase(text: str) -> str:
    """`text` as a quoted Lucene phrase with MusicBrainz's special characters escaped."""
    return '"' + _LUCENE_SPECIAL.sub(r"\\\1", text) + '"'


def search_query(artist: str | None, title: str) -> str:
    query = f"recording:{lucene_phrase(title)}"
    return f"{query} AND artist:{lucene_phrase(artist)}" if artist else query


def _release(recording: dict[str, Any]) -> ReleaseInfo | None:
    releases = [r for r in recording.get("releases") or [] if isinstance(r, dict) and r.get("id")]
    if not releases:
        return None
    official = [r for r in releases if r.get("status") == "Official"] or releases
    first = min(official, key=lambda r: str(r.get("date") or "9999"))
    group = first.get("release-group") or {}
    return ReleaseInfo(
        id=str(first["id"]),
        title=first.get("title"),
        date=first.get("date"),
        country=first.get("country"),
        release_group_id=group.get("id") if isinstance(group, dict) else None,
    )


def best_recording(answer: dict[str, Any], min_score: int) -> Recording | None:
    """The highest-scoring recording of a search answer, if it scores at least `min_score`."""
    found = [r for r in answer.get("recordings") or [] if isinstance(r, dict) and r.get("id")]
    if not found:
        return None
    best = max(found, key=lambda r: int(r.get("score") or 0))
    score = int(best.get("score") or 0)
    if score < min_score:
        return None
    credits = [c for c in best.get("artist-credit") or [] if isinstance(c, dict)]
    length = best.get("length")
    return Recording(
        id=str(best["id"]),
        title=str(best.get("title") or ""),
        score=score,
        artists=[
            ArtistCredit(
                name=str(c.get("name") or (c.get("artist") or {}).get("name") or ""),
                id=(c.get("artist") or {}).get("id"),
            )
            for c in credits
        ],
        length_s=length / 1000 if isinstance(length, int | float) else None,
        isrcs=[str(i) for i in best.get("isrcs") or []],
        first_release_date=best.get("first-release-date"),
        release=_release(best),
    )


class CoverError(PermanentError):
    """The cover could not be had (refused, not an image, too large, redirected elsewhere): the lookup still
    succeeds, without a cover."""


def _raise_for(response: httpx.Response, what: str, permanent: type[PermanentError] = PermanentError) -> None:
    status = response.status_code
    if status < 400:
        return
    message = f"{what} answered HTTP {status}"
    if status in (429, 503):
        after = response.headers.get("Retry-After", "")
        if after.isdigit():
            raise Retry(f"{message} (over its rate limit)", delay=min(float(after), 300.0))
        raise TransientError(f"{message} (over its rate limit)", error_type="MusicBrainzBusy")
    if status >= 500:
        raise TransientError(message, error_type="MusicBrainzUnavailable")
    raise permanent(message, error_type="MusicBrainzRefused")


class MusicBrainz:
    """The MusicBrainz and Cover Art Archive client of one metadata service process."""

    def __init__(
        self,
        *,
        api_url: str,
        cover_url: str,
        user_agent: str,
        timeout_s: float,
        min_score: int,
        limits: HostLimits,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.cover_url = cover_url.rstrip("/")
        self.min_score = min_score
        self.limits = limits
        self.http = httpx.AsyncClient(
            headers={"User-Agent": user_agent, "Accept": "application/json"}, timeout=timeout_s
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def _get(self, ctx: JobContext, url: str, what: str, **kwargs: Any) -> httpx.Response:
        await self.limits.take_turn(ctx, url)
        try:
            response = await self.http.get(url, **kwargs)
        except httpx.TransportError as exc:
            raise TransientError(
                f"{what} could not be reached: {exc}", error_type="MusicBrainzUnavailable"
            ) from None
        _raise_for(response, what)
        return response

    async def search(self, ctx: JobContext, artist: str | None, title: str) -> Recording | None:
        """The best recording for `artist` and `title` (None when nothing scores `min_score`); music-video
        recordings are left out (the song's audio recording carries the ISRCs and releases)."""
        params = {"query": search_query(artist, title) + " AND video:false", "fmt": "json", "limit": "5"}
        response = await self._get(ctx, f"{self.api_url}/recording", "MusicBrainz", params=params)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):  # never cached as "no match"
            raise TransientError(
                "MusicBrainz answered something that is not a JSON object",
                error_type="MusicBrainzUnavailable",
            )
        return best_recording(answer, self.min_score)

    async def front_cover(self, ctx: JobContext, release: ReleaseInfo) -> bytes | None:
        """The release's 250 px front cover (else its release group's); None when the archive has neither.
        Raises `CoverError` when the archive fails in a way that retrying the job would not mend."""
        paths = [f"release/{release.id}/front-250"]
        if release.release_group_id:
            paths.append(f"release-group/{release.release_group_id}/front-250")
        for path in paths:
            image = await self._image(ctx, f"{self.cover_url}/{path}")
            if image is not None:
                return image
        return None

    async def _image(self, ctx: JobContext, url: str) -> bytes | None:
        await self.limits.take_turn(ctx, url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with self.http.stream("GET", url, headers={"Accept": "image/*"}) as response:
                    if response.status_code == 404:
                        return None
                    if response.is_redirect:
                        url = self._redirect(url, response.headers.get("Location", ""))
                        continue
                    _raise_for(response, "The Cover Art Archive", permanent=CoverError)
                    if not response.headers.get("Content-Type", "").startswith("image/"):
                        raise CoverError(
                            f"the Cover Art Archive answered {response.headers.get('Content-Type')!r}"
                        )
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if len(data) > COVER_MAX_BYTES:
                            raise CoverError("the cover is larger than 10 MiB")
                    return bytes(data)
            except httpx.TransportError as exc:
                raise TransientError(
                    f"the Cover Art Archive could not be reached: {exc}", error_type="MusicBrainzUnavailable"
                ) from None
        raise CoverError(f"more than {MAX_REDIRECTS} redirects")

    def _redirect(self, current: str, location: str) -> str:
        """Where a redirect may lead: the configured archive's own host, or archive.org over https."""
        target = urljoin(current, location)
        parts, configured = urlsplit(target), urlsplit(self.cover_url)
        host = (parts.hostname or "").rstrip(".")
        if (parts.scheme, parts.netloc) == (configured.scheme, configured.netloc):
            return target
        if parts.scheme == "https" and (host == "archive.org" or host.endswith(".archive.org")):
            return target
        raise CoverError(
            f"the Cover Art Archive redirected to {parts.scheme}://{host}, which is not archive.org"
        )
