"""Hostile input at the API: every bad request gets a 4xx naming what is wrong, never a 500 or a crash."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import ValidationError

from imaging.video import VideoProps
from jobcommon import EchoRequest
from jobcommon.requests.safe_text import safe_text


async def _submit(api: httpx.AsyncClient, body: dict[str, object]) -> httpx.Response:
    return await api.post("/jobs/submit", json=body)


def _nested(levels: int) -> dict[str, object]:
    return json.loads('{"a":' * levels + "1" + "}" * levels)  # type: ignore[no-any-return]


def _chain(depth: int) -> dict[str, object]:
    job: dict[str, object] = {"job_type": "echo"}
    for _ in range(depth):
        job = {"job_type": "echo", "then": [job]}
    return job


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (
            {"job_type": "echo", "then": [{"job_type": "echo", "then": [{"job_type": "no_such"}]}]},
            "then.0.then.0",
        ),
        (_chain(5), "nest at most 4 deep"),
        ({"job_type": "echo", "then": [_chain(1)] * 17}, "at most 32 follow-ups"),
        ({"job_type": "echo", "payload": _nested(300)}, "nested deeper than 32"),
        ({"job_type": "echo", "payload": {"x": "a" * 70_000}}, "longer than 65536 bytes"),
        ({"job_type": "thumbnail", "sources": ["clips/a\u202egpj.exe"]}, "bidirectional"),
        ({"job_type": "thumbnail", "sources": ["clips/a\nb.jpg"]}, "control"),
        ({"job_type": "echo", "retry": {"max_attempts": 100}}, "max_attempts may be at most 10"),
        ({"job_type": "echo", "time_limit": {"soft_limit_s": 7 * 86400}}, "soft_limit_s may be at most"),
        ({"job_type": "thumbnail", "source": "a.mp4"}, "thumbnail.source: unknown field; thumbnail takes"),
        (
            {"job_type": "video_download", "url": "https://example.org/a.mp4", "options": {"fromat": "best"}},
            "options.fromat: unknown field; video_download.options takes",
        ),
        # paths that can never exist: refused at submission, not retried at run time as a transient OSError
        (
            {"job_type": "thumbnail", "sources": ["in/" + "a" * 300 + ".jpg"]},
            "sources.0: Value error, a path",
        ),
        ({"job_type": "thumbnail", "sources": ["in/" + "a" * 5000 + ".jpg"]}, "at most 4096 bytes"),
        ({"job_type": "storyboard", "sources": ["in/" + "\u00e9" * 200 + ".mp4"]}, "at most 255 bytes"),
        ({"job_type": "image_optimize", "sources": ["in/" + "a/" * 2100 + "b.jpg"]}, "at most 4096 bytes"),
        ({"job_type": "metadata_enrich", "items": ["in/" + "a" * 300 + ".mp4"]}, "items.0"),
        # requests that could only fail at run time
        (
            {"job_type": "video_download", "url": "http://" + "a" * 64 + ".org/clip.mp4"},
            "label longer than 63",
        ),
        ({"job_type": "video_download", "url": "http://" + "a." * 130 + "org/"}, "longer than 253"),
        ({"job_type": "thumbnail", "sources": ["a.mp4"], "at_s": 1e308}, "at_s"),
        ({"job_type": "thumbnail", "sources": []}, "thumbnail.sources: Value error, give at least one"),
        ({"job_type": "storyboard"}, "storyboard.sources: Value error, give at least one"),
        (
            {"job_type": "metadata_enrich", "items": []},
            "metadata_enrich.items: Value error, give at least one",
        ),
        ({"job_type": "playlist_download", "url": "https://example.org/p", "items": "5-1"}, "'5-1' selects"),
        ({"job_type": "playlist_download", "url": "https://example.org/p", "items": "0"}, "numbered from 1"),
        ({"job_type": "playlist_download", "url": "https://example.org/p", "items": "2, 0-0"}, "items"),
        ({"job_type": "video_download", "url": "http://127.0.0.1:99999/x.mp4"}, "video_download.url: Value"),
        ({"job_type": "video_download", "url": "http://127.0.0.1:0/x.mp4"}, "port"),
        ({"job_type": "video_download", "url": "http://ex ample.com/x.mp4"}, "url: Value error, the host"),
        ({"job_type": "video_info", "url": "http://example.com:http/x"}, "video_info.url: Value error"),
        ({"job_type": "video_info", "url": "http://a..b/x"}, "video_info.url: Value error"),
        ({"job_type": "video_download", "url": "http://example.com/a\x00b.mp4"}, "control characters"),
        ({"job_type": "playlist_download", "url": "http://ex\u3000ample.com/p"}, "playlist_download.url"),
        ({"job_type": "metadata_enrich", "items": ["http://127.0.0.1:70000/a"]}, "items.0"),
        (
            {"job_type": "echo", "time_limit": {"soft_limit_s": 0.001}},
            "soft_limit_s: Value error, a time limit must be at least 1 s",
        ),
        ({"job_type": "echo", "time_limit": {"hard_limit_s": 0.5}}, "time_limit.hard_limit_s"),
        ({"job_type": "video_download", "url": "https://a.example/v", "title": "clip\u202egpj.exe"}, "title"),
        ({"job_type": "video_download", "url": "https://a.example/v", "title": "x" * 301}, "title"),
    ],
)
async def test_bad_requests_answer_422_naming_the_problem(
    api: httpx.AsyncClient, body: dict[str, object], names: str
) -> None:
    """Each answers 422 (problem+json) whose detail names the field or rule; nothing is queued."""
    response = await _submit(api, body)
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    assert names in response.json()["detail"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('{"job_type": "echo", "payload": {"x": NaN}}', "echo.payload: Value error, numbers must be finite"),
        ('{"job_type": "echo", "payload": {"deep": [[1e999]]}}', "numbers must be finite"),
        ('{"job_type": "thumbnail", "sources": ["a.mp4"], "at_s": Infinity}', "body.thumbnail.at_s"),
        (
            '{"job_type": "echo", "then": [{"job_type": "thumbnail", "sources": ["a.mp4"], "at_s": 1e999}]}',
            "then.0",
        ),
    ],
)
async def test_numbers_json_cannot_hold_are_refused_not_stored_as_null(
    api: httpx.AsyncClient, text: str, names: str
) -> None:
    """Python's JSON reader takes NaN, Infinity and out-of-range numbers (1e999 is infinity), which no JSON
    writer can give back: the job used to be stored with null in their place (a thumbnail's `at_s` then
    meant "pick a frame"). Each is a 422 naming the field."""
    response = await api.post("/jobs/submit", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text[:500]
    assert names in response.json()["detail"], response.json()["detail"]


async def test_a_json_body_sent_as_another_media_type_is_told_so(api: httpx.AsyncClient) -> None:
    """FastAPI reads a body of another media type as text, and pydantic then says "Input should be a valid
    dictionary": the answer names the media type to send instead."""
    for media_type in ("text/plain", "application/x-www-form-urlencoded"):
        response = await api.post(
            "/jobs/submit", content=b'{"job_type": "echo"}', headers={"content-type": media_type}
        )
        assert response.status_code == 422
        assert response.json()["detail"] == (
            f"body: the body must be JSON, sent as Content-Type: application/json (not {media_type})"
        )
    plain = await api.post("/jobs/submit", content=b"[]", headers={"content-type": "application/json"})
    assert plain.status_code == 422
    assert "valid dictionary" in plain.json()["detail"]  # JSON, but not an object: pydantic's words stand


async def test_key_names_that_read_as_something_else_are_refused(api: httpx.AsyncClient) -> None:
    """A key's name is shown in key listings: control, invisible and bidi-override characters are refused
    there as in job fields (`a\u202egpj.exe` reads as `aexe.jpg`)."""
    for name in ("laptop\u202egpj.exe", "zero\u200bwidth", "tab\there", "csi\x9b31m", "line\u2028break"):
        response = await api.post("/keys", json={"name": name, "owner": "carol", "role": "read"})
        assert response.status_code == 422, response.text
        assert "bidirectional" in response.json()["detail"]
    created = await api.post("/keys", json={"name": "Carol's Mac (Café)", "owner": "carol", "role": "read"})
    assert created.status_code == 201
    assert (await api.delete(f"/keys/{created.json()['id']}")).status_code == 204


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man, ZWJ, woman, ZWJ, girl
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    "text",
    [
        f"clips/{FAMILY} vlog.mp4",
        "clips/\u2764\ufe0f\u200d\U0001f525 live.mp4",  # heart on fire: VS16 then ZWJ
        "clips/\U0001f468\U0001f3fd\u200d\U0001f9b0.jpg",  # skin tone, ZWJ, red hair
        f"flags/{SCOTLAND}.png",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.mp3",  # Persian, a ZWNJ inside the word
        "\u06f1\u06f0\u200c\u062a\u0627.mp3",  # Persian digits, ZWNJ, letters
        "\u0915\u094d\u200d\u0937.mp3",  # Devanagari, a ZWJ after the virama
        "\u0d05\u0d35\u0d28\u0d4d\u200d \u0d2a\u0d4b\u0d2f\u0d3f.mp3",  # Malayalam chillu ending a word
        "\u09b0\u200d\u09cd\u09af.mp3",  # Bengali ra-phala: a ZWJ before the virama
        "\U0001f3f3\ufe0f\u200d\U0001f308 pride.mp4",  # rainbow flag: white flag, VS16, ZWJ, rainbow
        "keycap 1\ufe0f\u20e3.jpg",
        "\u845b\U000e0100\u57ce.jpg",  # an ideographic variation sequence
    ],
)
def test_names_keep_joiners_and_flag_tags_that_are_part_of_the_text(text: str) -> None:
    """A media library's file names hold emoji sequences and scripts that need the zero-width (non-)joiner;
    they pass, where the same characters could disguise a name they are refused."""
    assert safe_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "pay\u200cpal",  # joiners between ASCII letters
        "\u043f\u0440\u0438\u200c\u0432\u0435\u0442",  # ... Cyrillic (reads as the word without it)
        "\u6771\u200d\u4eac.mp4",  # ... CJK
        "\u03b1\u03b2\u200d\u03b3",  # ... Greek
        "\uff50\uff41\uff59\u200c\uff50\uff41\uff4c",  # ... full-width Latin
        "pay\ufe0f\u200c\ufe0fpal",  # variation selectors around it do not make it text
        "pay\u034f\u200c\u034fpal",  # nor combining grapheme joiners
        "admin\u3164",  # a Hangul filler: a blank letter
        "admin\ufe0f",  # a variation selector that selects nothing
        "trailing\u00e9\u200d",
        "\u200d\U0001f468",
        "x\U000e0067\U000e007f",  # tags after no black flag
        "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in "admin") + "\U000e007f",  # hidden "admin"
        "\U0001f3f4\U000e0067\U000e0062",  # no cancel tag
        f"{FAMILY}\u202egpj.exe",
    ],
)
def test_joiners_and_tags_elsewhere_stay_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invisible"):
        safe_text(text)


async def test_a_source_named_with_an_emoji_sequence_is_accepted(api: httpx.AsyncClient) -> None:
    response = await _submit(api, {"job_type": "thumbnail", "sources": [f"clips/{FAMILY}.mp4"]})
    assert response.status_code == 202, response.text
    # Out of the way of the other tests: cancelled, unless a worker already failed it (no such file): 409.
    assert (await api.post(f"/jobs/{response.json()['task_id']}/cancel")).status_code in (202, 409)


async def test_follow_ups_within_the_caps_are_accepted(api: httpx.AsyncClient) -> None:
    """The caps leave room for real pipelines: 4 levels deep, 32 follow-ups in all."""
    assert (await _submit(api, _chain(4))).status_code == 202
    assert (await _submit(api, {"job_type": "echo", "then": [_chain(1)] * 16})).status_code == 202


def test_echo_test_hooks_need_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failure, blocking and cancel-ignoring hooks are refused unless MEDIAJOBS_TEST_HOOKS is on, and the
    schema (API docs, the dashboard's submit form) offers them only then."""
    hooks = {"fail_with", "fail_kind", "fail_attempts", "block_s", "ignore_cancel"}
    monkeypatch.delenv("MEDIAJOBS_TEST_HOOKS", raising=False)
    for hook in ({"fail_with": "x"}, {"ignore_cancel": True}, {"block_s": 1.0}, {"fail_attempts": 2}):
        with pytest.raises(ValidationError, match="test hooks are off"):
            EchoRequest.model_validate(hook)
    assert EchoRequest.model_validate({"sleep_s": 1, "payload": {"ok": 1}}).sleep_s == 1
    offered = set(EchoRequest.model_json_schema()["properties"])
    assert not offered & hooks
    assert {"payload", "sleep_s", "step_s"} <= offered
    monkeypatch.setenv("MEDIAJOBS_TEST_HOOKS", "true")
    assert EchoRequest.model_validate({"fail_with": "x"}).fail_with == "x"
    assert hooks <= set(EchoRequest.model_json_schema()["properties"])


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('{"job_type": "echo", "payload": {"x": "\\ud800"}}', "payload"),
        ('{"job_type": "echo", "payload": {"\\udfff": 1}}', "payload"),
        ('{"job_type": "echo", "fail_with": "\\ud800"}', "fail_with"),
        ('{"job_type": "video_download", "url": "http://a.example/x", "title": "a\\udfff"}', "title"),
        ('{"job_type": "thumbnail", "sources": ["a\\ud800.jpg"]}', "sources.0"),
        ('{"job_type": "echo", "then": [{"job_type": "echo", "payload": {"k": "\\udfff"}}]}', "then"),
    ],
)
async def test_lone_surrogates_are_refused_and_nothing_is_stored(
    api: httpx.AsyncClient, text: str, names: str
) -> None:
    """JSON may spell a lone surrogate (`"\\ud800"`) and Python's reader takes it, but no UTF-8 writer does: a
    free-form payload holding one was stored, answered 500, and broke every listing that held the job (and
    every CLI short id looked up through them). Each is a 422 naming the field; no job is made."""
    since = datetime.now(UTC).isoformat()
    response = await api.post("/jobs/submit", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text[:500]
    assert names in response.json()["detail"], response.json()["detail"]
    listed = await api.get("/jobs/list", params={"since": since, "limit": 500})
    assert listed.status_code == 200, listed.text[:300]
    for job in listed.json()["jobs"]:  # other tests' follow-ups may appear; none of this request's making
        shown = await api.get(f"/jobs/{job['task_id']}/status")
        assert shown.status_code == 200, shown.text[:300]
        assert "\\ud800" not in shown.text
        assert "\\udfff" not in shown.text


def test_a_time_past_the_end_picks_the_last_frame_whatever_its_size() -> None:
    """`at_s` is clamped to the last frame: a time whose frame number overflows (1e308 s × fps is infinity)
    crashed the thumbnail with OverflowError, retried as transient."""
    props = VideoProps(width=64, height=64, fps=25.0, frames=300)
    assert [props.index_at(t) for t in (0.0, 1.0, 11.99, 12.0, 1e9, 1e308, math.inf)] == [
        0,
        25,
        299,
        299,
        299,
        299,
        299,
    ]
