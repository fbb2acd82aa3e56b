"""A failed job's error is recorded masked: URL credentials and secret query values an exception names never
reach Redis (the job's `error`, `errors` and `attempt_log`, a bulk job's items, the dead letters), where
backups and anyone with `redis-cli` would read them. The request keeps its credentials (retries need them),
and the error's type stays as it was (dead letters are grouped by it)."""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis

from jobcommon import keys
from jobcommon.bulk import describe_failure
from jobcommon.child_process import MAX_CRASH_MESSAGE, ChildFailed, crash_message
from jobcommon.errors import (
    Deferred,
    HardTimeLimitExceeded,
    PermanentError,
    Retry,
    TimeLimitExceeded,
    TransientError,
)
from jobcommon.outcome import MAX_ERROR_MESSAGE, Verdict, from_exception
from jobcommon.ytdlp.failures import MAX_MESSAGE as YTDLP_MAX_MESSAGE
from jobcommon.ytdlp.failures import one_line as ytdlp_one_line
from tests.jobs import status, submit, wait_for, wait_terminal

SECRET_URL = "http://bob:s3cret@127.0.0.1/x?token=abc"
SHOWN_URL = "http://***@127.0.0.1/x?token=***"
MESSAGE = f"could not fetch {SECRET_URL}"
SHOWN_MESSAGE = f"could not fetch {SHOWN_URL}"


def holds_secret(text: str) -> bool:
    return "s3cret" in text or "token=abc" in text or "bob:" in text


@pytest.mark.parametrize(
    ("exc", "error_type"),
    [
        (PermanentError(MESSAGE, error_type="EchoFailed"), "EchoFailed"),
        (TransientError(MESSAGE), "TransientError"),
        (Retry(MESSAGE, delay=1.0), "Retry"),
        (TimeLimitExceeded(MESSAGE), "TimeLimitExceeded"),
        (HardTimeLimitExceeded(MESSAGE), "HardTimeLimitExceeded"),
        (RuntimeError(MESSAGE), "RuntimeError"),
        (ChildFailed("transient", "DownloadError", MESSAGE), "ChildFailed"),
        (ChildFailed("permanent", "DownloadError", MESSAGE).to_job_error(), "DownloadError"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_every_failure_is_recorded_masked_with_its_type(exc: BaseException, error_type: str) -> None:
    """Whatever ends a run (a handler's error, an unforeseen exception, a time limit, a child's failure),
    the outcome the job's record is written from holds the message masked and the type unchanged."""
    result = from_exception(exc)
    assert result.verdict == Verdict.FAILED
    assert result.error_type == error_type
    assert SHOWN_URL in result.message, result.message
    assert not holds_secret(result.message), result.message


def test_a_child_crash_naming_the_url_is_recorded_masked() -> None:
    """A child process that died: its last output (which may name the URL) becomes the error masked."""
    text = crash_message("yt-dlp", -9, [f"fetching {SECRET_URL}"], missing="a result")
    recorded = from_exception(ChildFailed("transient", "ChildCrashed", text).to_job_error())
    assert recorded.error_type == "ChildCrashed"
    assert SHOWN_URL in recorded.message
    assert not holds_secret(recorded.message)


def test_a_deferral_and_a_bulk_item_error_are_masked() -> None:
    deferred = from_exception(Deferred(f"waiting on {SECRET_URL}", delay=1.0))
    assert deferred.verdict == Verdict.DEFERRED
    assert not holds_secret(deferred.message)
    item = describe_failure(TransientError(MESSAGE, error_type="HostDown"))
    assert (item.type, item.message, item.retryable) == ("HostDown", SHOWN_MESSAGE, True)


def test_a_message_cut_to_size_keeps_no_part_of_a_password() -> None:
    """A long message is cut after it is masked: a URL across the cut leaves no piece of its password (a
    piece the mask, which needs the whole `user:password@`, could no longer find)."""
    password = "Pw4xyzzyquux"
    head = "x" * (MAX_ERROR_MESSAGE - len("http://bob:") - 6)
    recorded = from_exception(RuntimeError(f"{head}http://bob:{password}@127.0.0.1/x"))
    assert len(recorded.message) <= MAX_ERROR_MESSAGE
    assert password[:4] not in recorded.message, recorded.message[-40:]
    assert "bob:" not in recorded.message


@pytest.mark.parametrize("cut_at", [MAX_CRASH_MESSAGE, YTDLP_MAX_MESSAGE])
def test_a_message_cut_before_it_reaches_the_record_keeps_no_part_of_a_password(cut_at: int) -> None:
    """A child's crash message and yt-dlp's one-line error are cut to size before they become a job's error:
    they are masked before that cut too, else a URL across it left a piece the record's mask cannot find."""
    password = "Pw4xyzzyquux"
    url = f"http://bob:{password}@127.0.0.1/x"
    if cut_at == MAX_CRASH_MESSAGE:
        prefix = "yt-dlp exited with code 1 without a result; its last output: "
        text = crash_message("yt-dlp", 1, ["x" * (cut_at - len(prefix) - 15) + url], missing="a result")
    else:
        text = ytdlp_one_line(RuntimeError("ERROR: " + "x" * (cut_at - 15) + url))
    assert len(text) <= cut_at
    recorded = from_exception(RuntimeError(text))
    assert password[:4] not in recorded.message, recorded.message[-40:]
    assert "bob:" not in recorded.message


def test_a_message_without_secrets_is_kept_as_it_was() -> None:
    text = "HTTP Error 404: Not Found for http://127.0.0.1/x?id=7 (user@example.org)"
    assert from_exception(RuntimeError(text)).message == text


async def _raw_record(redis: Redis, task_id: str) -> dict[str, str]:
    fields = cast("dict[str, str]", await redis.hgetall(keys.job(task_id)))
    assert fields, task_id
    return fields


async def _dead_letter_entries(redis: Redis, task_id: str) -> list[dict[str, str]]:
    entries = cast("list[tuple[str, dict[str, str]]]", await redis.xrange(keys.DEAD_LETTERS))
    return [fields for _id, fields in entries if fields.get("task_id") == task_id]


def _assert_stored_masked(fields: dict[str, str], shown: str = SHOWN_MESSAGE) -> None:
    """No field of the record but its request holds the secret; the request keeps it; every recorded error
    reads `shown`."""
    assert "s3cret" in fields["request"], "the request must keep its credentials"
    for name, value in fields.items():
        if name != "request":
            assert not holds_secret(value), (name, value)
    error = json.loads(fields["error"])
    assert error["message"] == shown, error
    for record in json.loads(fields["errors"]):
        assert record["message"] == shown, record
    for attempt in json.loads(fields.get("attempt_log") or "[]"):
        if attempt.get("error"):
            assert attempt["error"]["message"] == shown, attempt


async def test_a_failed_job_stores_its_error_masked(api: httpx.AsyncClient, redis: Redis) -> None:
    """A handler's error naming a URL with a password and a token: the record's raw `error` (HGET) holds
    neither, and the API shows the same masked text and the error's type."""
    job = await submit(api, {"job_type": "echo", "fail_with": MESSAGE})
    failed = await wait_terminal(api, job["task_id"])
    assert failed["status"] == "failed", failed
    assert failed["error"] == {"type": "EchoFailed", "message": SHOWN_MESSAGE}
    raw = cast("str | None", await redis.hget(keys.job(job["task_id"]), "error"))
    assert raw is not None
    assert not holds_secret(raw), raw
    assert json.loads(raw) == {"type": "EchoFailed", "message": SHOWN_MESSAGE}
    _assert_stored_masked(await _raw_record(redis, job["task_id"]))


async def test_a_retried_and_dead_lettered_job_stores_every_error_masked(
    api: httpx.AsyncClient, redis: Redis
) -> None:
    """An unforeseen exception, retried and then out of attempts: its retry history, its last error and
    its dead letter hold no secret; the dead letters still list and group it by its error type."""
    marker = f"masking{uuid.uuid4().hex[:12]}"  # searched for: this job's dead letter alone
    shown_message = f"{marker} {SHOWN_MESSAGE}"
    job = await submit(
        api,
        {
            "job_type": "echo",
            "fail_with": f"{marker} {MESSAGE}",
            "fail_kind": "unknown",
            "retry": {"max_attempts": 2, "backoff_base_s": 0.05, "backoff_cap_s": 0.05},
        },
    )
    task_id = job["task_id"]
    final = await wait_for(api, task_id, lambda j: j["status"] == "failed" and j["dead"], timeout=60)
    assert final["error"] == {"type": "RuntimeError", "message": shown_message}
    assert [(e["attempt"], e["type"], e["message"]) for e in final["errors"]] == [
        (1, "RuntimeError", shown_message),
        (2, "RuntimeError", shown_message),
    ]
    _assert_stored_masked(await _raw_record(redis, task_id), shown_message)

    letters = await _dead_letter_entries(redis, task_id)
    assert letters, "the job was dead-lettered"
    for letter in letters:
        assert not any(holds_secret(value) for value in letter.values()), letter
        assert not any("abc" in value for name, value in letter.items() if name != "task_id"), letter

    listed = await api.get("/jobs/dead", params={"error_type": "RuntimeError", "q": marker})
    assert listed.status_code == 200, listed.text
    shown: list[dict[str, Any]] = listed.json()
    assert [letter["job"]["task_id"] for letter in shown] == [task_id]
    assert shown[0]["job"]["error"] == {"type": "RuntimeError", "message": shown_message}
    summary = await api.get("/jobs/dead/summary", params={"q": marker})
    assert summary.status_code == 200, summary.text
    assert [(g["error_type"], g["count"]) for g in summary.json()["groups"]] == [("RuntimeError", 1)]
    assert not holds_secret(json.dumps(await status(api, task_id)))
