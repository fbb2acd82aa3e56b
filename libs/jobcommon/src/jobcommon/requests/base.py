"""What every job request shares: strict models, retry and time-limit overrides, follow-up jobs."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from jobcommon.priorities import Priority
from jobcommon.requests.safe_text import safe_text

MAX_URL_LENGTH = 4096
TASK_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_JSON_DEPTH = 32
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_DELAY_S = 30 * 86400
"""A job may be scheduled at most this far ahead (`run_at`, `delay_s`)."""
MIN_TIME_LIMIT_S = 1.0
"""A `time_limit` override may be no shorter: a run stopped sooner could only time out (and retry)."""


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of JSON-like data, counting no further than `limit` + 1 (no recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    """Validator: free-form JSON at most `MAX_JSON_DEPTH` deep and `MAX_PAYLOAD_BYTES` long, its numbers
    finite (Python's JSON reader takes `NaN`, `Infinity` and `1e999`, which no JSON writer gives back: the
    job would have been stored with null there)."""
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except ValueError:
        raise ValueError("numbers must be finite (no NaN, Infinity or out-of-range values)") from None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # JSON's "\ud800": a lone surrogate, which no UTF-8 writer (nor Redis's) takes
        raise ValueError("must be valid Unicode (a lone surrogate such as \\ud800 is none)") from None
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"longer than {MAX_PAYLOAD_BYTES} bytes as JSON")
    return value


BoundedJson = Annotated[dict[str, Any], AfterValidator(bounded_json)]
"""A free-form JSON object a client may send (a payload, a follow-up's request), bounded in depth and size."""


class StrictModel(BaseModel):
    # allow_inf_nan=False: an `Infinity` or `1e999` in a number field is refused, not stored as null
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


FORBIDDEN_IN_HOST = frozenset("\x00\t\n\r #/:<>?@[\\]^|%\x7f")
"""The WHATWG URL standard's forbidden domain code points (C0 controls and whitespace are refused besides)."""
_CONTROLS = re.compile("[\x00-\x1f\x7f]")
MAX_LABEL_BYTES = 63
"""Longest label of a DNS name (RFC 1035), as it travels (punycode)."""
MAX_HOST_BYTES = 253
"""Longest DNS name, dots included, without the root's."""


def http_url(value: str) -> str:
    """Validator: an http(s) URL with a host (yt-dlp would also fetch ftp:, data: and file: otherwise) that
    can be fetched at all: no control characters, a host name of valid characters, a port in 1-65535."""
    value = value.strip()
    if _CONTROLS.search(value):  # urlsplit drops tabs and newlines silently; HTTP clients refuse them all
        raise ValueError("a URL may not hold control characters (tabs, newlines, ...)")
    parts = urlsplit(value)  # a malformed IPv6 literal is a ValueError of its own ("Invalid IPv6 URL")
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("only http and https URLs can be downloaded")
    if not parts.hostname:
        raise ValueError("URL has no host")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("the URL's port must be a number from 1 to 65535")
    if not parts.netloc.rpartition("@")[2].startswith("["):  # an IPv6 literal was checked by urlsplit
        _check_host_name(parts.hostname)
    return value


def _check_host_name(host: str) -> None:
    """A host name no resolver could look up (`ex ample.com`, `a..b`) is refused, saying why."""
    if any(ch in FORBIDDEN_IN_HOST or ch.isspace() or not ch.isprintable() for ch in host):
        raise ValueError("the host name may not hold spaces, control characters or any of #/:<>?@[\\]^|%")
    labels = host.removesuffix(".").split(".")
    if any(not label for label in labels):
        raise ValueError("the host name has an empty label (two dots in a row, or a leading dot)")
    sizes = [len(label) if label.isascii() else _dns_size(label) for label in labels]
    if max(sizes) > MAX_LABEL_BYTES:
        raise ValueError(f"the host name has a label longer than {MAX_LABEL_BYTES} characters")
    if sum(sizes) + len(sizes) - 1 > MAX_HOST_BYTES:
        raise ValueError(f"the host name is longer than {MAX_HOST_BYTES} characters")


def _dns_size(label: str) -> int:
    """An international label's length as DNS carries it (punycode, `xn--...`)."""
    try:
        return len(label.encode("idna"))
    except UnicodeError:  # too long even so, or a character IDNA refuses
        raise ValueError(f"the host name's label {label[:20]!r}... is no valid international name") from None


MAX_PATH_BYTES = 4096
"""Longest path (UTF-8) a source may name: Linux's PATH_MAX; a longer one can never be opened."""
MAX_NAME_BYTES = 255
"""Longest file or folder name (UTF-8) in a source path: what ext4, XFS, btrfs and tmpfs hold (NAME_MAX)."""


def _utf8_size(text: str) -> int:
    """Bytes of `text` as a file name (UTF-8); a lone surrogate (JSON's `"\\ud800"`) names no file."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("a path must be valid Unicode text (it holds a lone surrogate)") from None


def media_source(value: str) -> str:
    """Validator: a path relative to MEDIA_ROOT (no `..` part, no name longer than any file system holds)
    or the task id of a finished job."""
    value = value.strip()
    # counted as a file system stores it: composed (NFC), while a macOS client sends it decomposed (NFD)
    size = _utf8_size(unicodedata.normalize("NFC", value))
    if size > MAX_PATH_BYTES:
        raise ValueError(f"a path may be at most {MAX_PATH_BYTES} bytes long (UTF-8); this one is {size}")
    value = safe_text(value)
    if TASK_ID.match(value):
        return value
    if not value or value.startswith("/") or "\\" in value:
        raise ValueError("a source is a path relative to MEDIA_ROOT or the task id of a finished job")
    parts = value.split("/")
    # refused even where it stays inside: `a/../b` is `b` only while `a` is no symlink
    if any(part == ".." for part in parts):
        raise ValueError("a source path may not hold `..`: name the file by its path under MEDIA_ROOT")
    for index, part in enumerate(parts, start=1):
        size = _utf8_size(unicodedata.normalize("NFC", part))
        if size > MAX_NAME_BYTES:
            raise ValueError(
                f"a path's file and folder names may be at most {MAX_NAME_BYTES} bytes long (UTF-8); "
                f"part {index} of this one is {size}"
            )
    return value


class RetryOverride(StrictModel):
    """Per-submission retry policy (defaults come from the job type's policy)."""

    max_attempts: int | None = Field(default=None, ge=1, le=100)
    backoff_base_s: float | None = Field(default=None, ge=0, le=3600)
    backoff_cap_s: float | None = Field(default=None, ge=0, le=86400)


class TimeLimitOverride(StrictModel):
    """Per-submission time limits in seconds (defaults come from the job type's policy)."""

    soft_limit_s: float | None = Field(
        default=None,
        gt=0,
        le=7 * 86400,
        json_schema_extra={"minimum": MIN_TIME_LIMIT_S},
        description=f"At least {MIN_TIME_LIMIT_S:g} s.",
    )
    hard_limit_s: float | None = Field(
        default=None,
        gt=0,
        le=7 * 86400,
        json_schema_extra={"minimum": MIN_TIME_LIMIT_S},
        description=f"At least {MIN_TIME_LIMIT_S:g} s; always pushed to 5 s or more after the soft limit.",
    )

    @field_validator("soft_limit_s", "hard_limit_s")
    @classmethod
    def _long_enough(cls, value: float | None) -> float | None:
        if value is not None and value < MIN_TIME_LIMIT_S:
            raise ValueError(
                f"a time limit must be at least {MIN_TIME_LIMIT_S:g} s: a run stopped sooner could only time "
                "out, attempt after attempt"
            )
        return value


class JobRequestBase(StrictModel):
    """Fields every job request accepts. A job type's model narrows `job_type` to its name
    (`job_type: Literal["echo"] = "echo"`) and is declared with `jobcommon.job_types.job_type`."""

    job_type: str

    retry: RetryOverride | None = None
    time_limit: TimeLimitOverride | None = None
    then: list[BoundedJson] = Field(
        default_factory=list,
        max_length=20,
        description="Follow-up jobs created when this one succeeds, each on its own queue, with this job's "
        "output as their `source` (e.g. a download followed by a thumbnail and a metadata pass).",
    )
    priority: Priority | None = Field(
        default=None,
        description="high, normal or low: which of its queue's lanes the job waits in (a free worker slot "
        "takes high first 6 times in 10, normal 3, low 1, so none starves). Default: the job type's.",
    )
    run_at: AwareDatetime | None = Field(
        default=None,
        description="Run no earlier than this time (RFC 3339 with an offset; at most 30 days ahead). Until "
        "then the job is `scheduled` and can be cancelled. A time already past runs it at once.",
    )
    delay_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DELAY_S,
        description="Run no earlier than this many seconds from submission (instead of `run_at`).",
    )

    @model_validator(mode="after")
    def _one_start_time(self) -> Self:
        if self.run_at is not None and self.delay_s is not None:
            raise ValueError("give run_at or delay_s, not both")
        if self.run_at is not None and self.run_at > datetime.now(UTC) + timedelta(seconds=MAX_DELAY_S):
            raise ValueError("run_at may be at most 30 days ahead")
        return self

    def start_delay_s(self, now: datetime) -> float:
        """Seconds from `now` until the job may run (0: at once)."""
        if self.delay_s is not None:
            return self.delay_s
        if self.run_at is not None:
            return max(0.0, (self.run_at - now).total_seconds())
        return 0.0

    @model_validator(mode="after")
    def _overrides_within_bounds(self) -> Self:
        """`retry` and `time_limit` may tune the job type's policy, within its bounds (see `policies`)."""
        from jobcommon.job_types import JOB_TYPES
        from jobcommon.policies import check_overrides

        if self.retry is not None or self.time_limit is not None:
            try:
                policy = JOB_TYPES.get(self.job_type).policy
            except KeyError:
                return self  # not a registered job type (yet): its policy is checked when it is
            check_overrides(policy, self.retry, self.time_limit)
        return self

    def compact(self) -> dict[str, Any]:
        """The request as JSON data holding its job type and only what differs from the defaults: how job
        records and messages carry it (it validates back to an equal request)."""
        return {"job_type": self.job_type, **self.model_dump(mode="json", exclude_defaults=True)}

    def duplicate_fingerprint(self) -> str | None:
        """Identifies the work itself; two live jobs with the same fingerprint would do it twice.

        None: jobs of this type may run side by side.
        """
        return None
