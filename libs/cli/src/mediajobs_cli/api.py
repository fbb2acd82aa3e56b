"""The gateway's HTTP API, as the CLI uses it; every failure becomes an `ApiError` carrying its exit code."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from mediajobs_cli.config import Config
from mediajobs_cli.exit_codes import ExitCode, for_http_status

Json = dict[str, Any]

ID_LENGTH = 32
FULL_ID = re.compile(r"^[0-9a-f]{32}$")
SHORT_ID = re.compile(r"^(?P<head>[0-9a-f]{4,32})(?:(?:…|\.\.\.?)(?P<tail>[0-9a-f]{0,28}))?$")
"""A task id as people copy it: its first 4+ hex digits, or as the dashboard and `ls` shorten it,
`7ffd509e…0bed` (also with `...`), or copied up to the ellipsis, `7ffd509e…` (as the gateway's search
reads them: `gateway.id_search`)."""
LOOKED_AT = 500
"""How many of the caller's newest jobs a short id is looked for in."""
RECONNECT_FOR_S = 60.0
"""How long a broken event stream is tried again (since it last answered) before `watch` gives up."""
RECONNECT_PAUSE_S, RECONNECT_PAUSE_MAX_S = 0.5, 5.0
"""The first pause before opening a broken stream again, and the longest (doubling in between)."""
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


class ApiError(Exception):
    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of `/jobs/{id}/events`: its kind (`status`, `progress`) and the job."""

    kind: str
    job: Json


def _problem(response: httpx.Response) -> str:
    """The problem+json `detail` (or the body) of an error answer."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title")
        if detail:
            return detail if isinstance(detail, str) else json.dumps(detail)
    return json.dumps(body)


def _check(response: httpx.Response, config: Config) -> httpx.Response:
    """The response, or an ApiError saying what went wrong; a refused key also says which gateway refused
    it, and where the URL and the key came from (another gateway than meant is the usual cause)."""
    if response.is_success:
        return response
    response.read()
    message = f"{response.status_code} {response.reason_phrase}: {_problem(response)}"
    if response.status_code in (401, 403):
        message += f"\n  gateway: {config.url} (from {config.url_from})\n  API key: from {config.key_from}"
    raise ApiError(message, for_http_status(response.status_code))


def parse_events(lines: Iterator[str]) -> Iterator[Event]:
    """Server-Sent Events from the lines of a stream (comments and pings skipped)."""
    kind, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield Event(kind, json.loads("\n".join(data)))
            kind, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)


class Api:
    """A blocking client of the gateway. Use as `with Api(config) as api: ...`."""

    def __init__(self, config: Config, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = httpx.Client(base_url=config.url, headers=headers, timeout=timeout)
        self.url = config.url
        self.config = config

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return _check(self._http.request(method, path, **kwargs), self.config)
        except httpx.HTTPError as exc:
            where = f"{self.url} (from {self.config.url_from})"
            raise ApiError(f"cannot reach the gateway at {where}: {exc}", ExitCode.API_ERROR) from exc

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def submit(self, body: Json) -> Json:
        job: Json = self.json("POST", "/jobs/submit", json=body)
        return job

    def task_id(self, given: str) -> str:
        """The full task id `given` names: itself, or the one job among the caller's newest LOOKED_AT whose id
        starts (and ends) as a short id says. ApiError NOT_FOUND when none does, USAGE when several do."""
        text = given.strip().lower()
        if FULL_ID.match(text):
            return text
        short = SHORT_ID.match(text)
        if short is None or len(short["head"]) + len(short["tail"] or "") > ID_LENGTH:
            return given  # not an id at all: the API says so
        head, tail = short["head"], short["tail"] or ""
        if len(head) == ID_LENGTH:
            return head  # a whole id with an ellipsis after it
        listing: Json = self.json("GET", "/jobs/list", params={"limit": LOOKED_AT})
        found = [
            str(job["task_id"])
            for job in listing["jobs"]
            if str(job["task_id"]).startswith(head) and str(job["task_id"]).endswith(tail)
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            raise ApiError(
                f"no job id of your {LOOKED_AT} newest jobs matches {given!r}: give the whole id",
                ExitCode.NOT_FOUND,
            )
        raise ApiError(f"{given!r} matches {len(found)} jobs: {', '.join(found[:5])}", ExitCode.USAGE)

    def job(self, task_id: str) -> Json:
        job: Json = self.json("GET", f"/jobs/{task_id}/status")
        return job

    def events(self, task_id: str, *, reconnect_for_s: float = RECONNECT_FOR_S) -> Iterator[Event]:
        """The job's live events until it ends. A stream that breaks (or closes) before the job has ended —
        a gateway restarted, a proxy's idle cut, a 503 while Redis is away — is opened again, with a pause
        growing to `RECONNECT_PAUSE_MAX_S`, for up to `reconnect_for_s` since it last answered; the stream
        starts with the job's state, so nothing the job did meanwhile is missed. ApiError once that runs out,
        or at once for an answer no retry changes (401, 403, 404)."""
        timeout = httpx.Timeout(30.0, read=None)
        broke_at: float | None = None
        pause = RECONNECT_PAUSE_S
        while True:
            try:
                with self._http.stream("GET", f"/jobs/{task_id}/events", timeout=timeout) as response:
                    if response.status_code >= 500:  # restarting, or its Redis away: try again
                        raise httpx.HTTPStatusError(
                            f"{response.status_code} {response.reason_phrase}",
                            request=response.request,
                            response=response,
                        )
                    _check(response, self.config)
                    for event in parse_events(response.iter_lines()):
                        broke_at, pause = None, RECONNECT_PAUSE_S
                        yield event
                        if event.job.get("status") in TERMINAL:
                            return
                why = "the stream closed before the job ended"
            except httpx.HTTPError as exc:
                why = str(exc) or type(exc).__name__
            now = time.monotonic()
            broke_at = now if broke_at is None else broke_at
            if now - broke_at >= reconnect_for_s:
                raise ApiError(
                    f"event stream from {self.url} broke and did not come back in {reconnect_for_s:g} s: "
                    f"{why}",
                    ExitCode.API_ERROR,
                )
            time.sleep(pause)
            pause = min(RECONNECT_PAUSE_MAX_S, pause * 2)
