"""Hostile request bodies get clear answers on every route that takes one: a JSON body that cannot be read
(not UTF-8, nested 100,000 deep, a 5000-digit number, cut short, a syntax error) is a 422 problem saying what
and where — it was a 400 "There was an error parsing the body" —, a key twice in one object is a 422 naming
it (the last one silently won: a job of the other type was made), and a body with a Content-Encoding is a
415 (it was read as if it had none). Never a 500, a hang or the input echoed back at length. A gateway of its
own (no workers) on a Redis database of its own; the reader itself is tested directly too."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from gateway.json_body import MAX_DEPTH, UnreadableBody, read_json
from tests.conftest import ApiKeys, bearer
from tests.support.lone_gateway import LoneGateway, lone_gateway
from tests.support.otlp import OtlpReceiver

BODIES_DB = 2
JSON = {"content-type": "application/json"}


Gateway = LoneGateway


@pytest.fixture(scope="module")
async def gateway(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    async with lone_gateway(
        redis_url, BODIES_DB, otlp, api_keys, tmp_path_factory.mktemp("bodies")
    ) as gateway:
        yield gateway


@pytest.fixture
async def admin(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=gateway.url, timeout=60, headers=bearer(gateway.keys.admin)
    ) as client:
        yield client


# -- bodies that cannot be read ----------------------------------------------------------------------------

ROUTES = ["/jobs/submit", "/keys", "/jobs/schedules", "/jobs/dead/retry", "/jobs/dead/purge"]
"""Every route that takes a JSON body (POST /ui/login takes a form: below)."""

SUBMISSION = b'{"job_type": "echo", "payload": {"x": "'

UNREADABLE = [
    pytest.param(
        SUBMISSION + b'caf\xff"}}',
        "body: the body is not valid UTF-8 (byte 0xff at offset 42)",
        id="not-utf8",
    ),
    pytest.param(
        SUBMISSION + b'\xed\xa0\x80"}}',  # a lone surrogate, encoded: no UTF-8 writer makes it
        "body: the body is not valid UTF-8 (byte 0xed at offset 39)",
        id="encoded-surrogate",
    ),
    pytest.param(
        SUBMISSION + b"\xe2\x82",
        "body: the body is not valid UTF-8 (it ends within a character, at offset 39)",
        id="cut-within-a-character",
    ),
    pytest.param(
        b"[" * 100_000 + b"]" * 100_000, f"body: the body nests deeper than {MAX_DEPTH} levels", id="deep"
    ),
    pytest.param(
        b'{"job_type": "echo", "payload": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
        f"body: the body nests deeper than {MAX_DEPTH} levels",
        id="deep-objects",
    ),
    pytest.param(
        b'{"job_type": "echo", "payload": {"x": ' + b"7" * 5000 + b"}}",
        "body: a number in the body has more than 4300 digits (at line 1 column 39)",
        id="5000-digits",
    ),
    pytest.param(
        SUBMISSION + b"ab",
        "body: the body is not valid JSON: Unterminated string starting at line 1 column 39",
        id="cut-short",
    ),
    pytest.param(
        b'{"job_type": "echo"\n "payload": {}}',
        "body: the body is not valid JSON: Expecting ',' delimiter at line 2 column 2",
        id="syntax",
    ),
]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(("body", "detail"), UNREADABLE)
async def test_a_body_that_cannot_be_read_is_a_422_saying_why(
    admin: httpx.AsyncClient, path: str, body: bytes, detail: str
) -> None:
    """The same problem on every route, before its fields are looked at; sent chunked, too."""
    for content in (body, _chunked(body)):
        answer = await admin.post(path, content=content, headers=JSON)
        assert answer.status_code == 422, answer.text[:500]
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["detail"] == detail
        assert problem["title"] == "Unprocessable Content"
        assert [error["loc"] for error in problem["errors"]] == [["body"]]


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    """`body` as a generator (httpx sends it with Transfer-Encoding: chunked), in pieces."""
    for start in range(0, len(body), 7000):
        yield body[start : start + 7000]


async def test_a_body_cut_off_by_its_sender_is_told_where(gateway: Gateway) -> None:
    """A client that sends half a body and ends it (a chunked one whose last chunk came early) hears where it
    ended; the gateway answers the next request on the same connection."""
    async with httpx.AsyncClient(
        base_url=gateway.url, timeout=60, headers=bearer(gateway.keys.admin)
    ) as client:
        answer = await client.post(
            "/jobs/submit", content=_chunked(b'{"job_type": "echo", "payload": {"a": [1, 2'), headers=JSON
        )
        assert answer.status_code == 422
        assert answer.json()["detail"] == (
            "body: the body is not valid JSON: Expecting ',' delimiter at line 1 column 44"
        )
        assert (await client.get("/jobs/health")).status_code == 200


async def test_bodies_within_the_limits_are_still_taken(admin: httpx.AsyncClient) -> None:
    """Nesting to the limit reaches the job's own rules (a payload is capped at 32 levels, with their
    reason), 4300 digits are a number, brackets and quotes within strings are text, a UTF-8 byte order mark
    is skipped; an empty body is still "Field required"."""
    deep = b'{"job_type": "echo", "payload": {"x": ' + b"[" * (MAX_DEPTH - 2) + b"]" * (MAX_DEPTH - 2) + b"}}"
    answer = await admin.post("/jobs/submit", content=deep, headers=JSON)
    assert answer.status_code == 422
    assert "nested deeper than 32" in answer.json()["detail"]
    long_number = b'{"job_type": "echo", "payload": {"n": ' + b"9" * 4300 + b"}}"
    taken = await admin.post("/jobs/submit", content=long_number, headers=JSON)
    assert taken.status_code == 202, taken.text[:300]
    assert taken.json()["request"]["payload"]["n"] == int("9" * 4300)
    text = '\\"[{' * 1000 + "\\\\"
    taken = await admin.post("/jobs/submit", json={"job_type": "echo", "payload": {"t": text}})
    assert taken.status_code == 202, taken.text[:300]
    assert taken.json()["request"]["payload"]["t"] == text
    marked = await admin.post("/jobs/submit", content=b'\xef\xbb\xbf{"job_type": "echo"}', headers=JSON)
    assert marked.status_code == 202, marked.text[:300]
    empty = await admin.post("/jobs/submit", content=b"", headers=JSON)
    assert empty.status_code == 422
    assert empty.json()["detail"] == "body: Field required"


# -- a key twice -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            b'{"job_type": "echo", "job_type": "video_download", "url": "https://example.org/a.mp4"}',
            "body: the key 'job_type' appears twice",
        ),
        (
            b'{"job_type": "echo", "payload": {"x": 1, "y": 2, "x": 3}}',
            "body.payload: the key 'x' appears twice",
        ),
        (
            b'{"job_type": "echo", "then": [{"job_type": "echo", "payload": '
            b'{"a": [{}, {"k": 1, "k": 1, "k": 1}]}}]}',
            "body.then.0.payload.a.1: the key 'k' appears 3 times",
        ),
        (  # the first in the document's order, however deep the later one is
            b'{"payload": {"a": {"b": {"c": 1, "c": 2}}}, "job_type": "echo", "job_type": "echo"}',
            "body: the key 'job_type' appears twice",
        ),
    ],
)
async def test_a_key_twice_in_one_object_is_refused_naming_it(
    admin: httpx.AsyncClient, body: bytes, detail: str
) -> None:
    """At any depth, whatever the values (the same twice too); no job is made."""
    since = datetime.now(UTC).isoformat()
    answer = await admin.post("/jobs/submit", content=body, headers=JSON)
    assert answer.status_code == 422, answer.text[:500]
    problem = answer.json()
    assert problem["detail"] == detail
    assert problem["errors"][0]["type"] == "duplicate_key"
    listed = await admin.get("/jobs/list", params={"since": since})
    assert listed.json()["jobs"] == []


async def test_a_key_twice_is_refused_on_every_route(admin: httpx.AsyncClient) -> None:
    """A key, a schedule or a dead-letter action with a field twice: refused, nothing made or done (the last
    value won: a key named after the second name, a dry run that was not one)."""
    key = b'{"name": "first", "owner": "dup", "role": "read", "name": "second"}'
    answer = await admin.post("/keys", content=key, headers=JSON)
    assert answer.status_code == 422
    assert answer.json()["detail"] == "body: the key 'name' appears twice"
    assert all(listed["owner"] != "dup" for listed in (await admin.get("/keys")).json())
    schedule = b'{"name": "a", "every_s": 3600, "request": {"job_type": "echo"}, "name": "b"}'
    answer = await admin.post("/jobs/schedules", content=schedule, headers=JSON)
    assert answer.status_code == 422
    assert answer.json()["detail"] == "body: the key 'name' appears twice"
    assert (await admin.get("/jobs/schedules")).json() == []
    for path in ("/jobs/dead/retry", "/jobs/dead/purge"):
        action = b'{"filter": {"error_type": "X"}, "dry_run": false, "dry_run": true}'
        answer = await admin.post(path, content=action, headers=JSON)
        assert answer.status_code == 422
        assert answer.json()["detail"] == "body: the key 'dry_run' appears twice"


async def test_input_is_never_echoed_back_at_length(admin: httpx.AsyncClient) -> None:
    """A duplicated key of 100,000 characters, under a path of long keys, is quoted cut short."""
    long = "k" * 100_000
    body = json.dumps({"job_type": "echo", "payload": {long: {long: 1}}}).encode()
    body = body.replace(b": 1}", b': 1, "' + long.encode() + b'": 2}')
    answer = await admin.post("/jobs/submit", content=body, headers=JSON)
    assert answer.status_code == 422
    assert len(answer.content) < 1000
    assert answer.json()["detail"] == f"body.payload.{'k' * 40}…: the key {'k' * 40!r}… appears twice"


# -- Content-Encoding ---------------------------------------------------------------------------------------

ECHO = json.dumps({"job_type": "echo"}).encode()


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", ECHO),  # says gzip, is not: it was taken as it was (202)
        ("gzip", gzip.compress(ECHO, mtime=0)),  # is gzip: it was read as JSON (a 422 "JSON decode error")
        ("br", ECHO),
        ("GZIP , identity", ECHO),
        ("x-" + "z" * 5000, ECHO),
    ],
)
async def test_a_body_with_a_content_coding_is_refused_with_415(
    admin: httpx.AsyncClient, coding: str, body: bytes
) -> None:
    """The gateway takes bodies unencoded: a 415 naming the coding (cut short), with Accept-Encoding:
    identity (RFC 9110), before the body is read; nothing is made."""
    since = datetime.now(UTC).isoformat()
    for content in (body, _chunked(body)):
        answer = await admin.post(
            "/jobs/submit", content=content, headers=JSON | {"content-encoding": coding}
        )
        assert answer.status_code == 415, answer.text[:300]
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["accept-encoding"] == "identity"
        problem = answer.json()
        assert problem["title"] == "Unsupported Media Type"
        said = ", ".join(
            part.strip().lower() for part in coding.split(",") if part.strip().lower() != "identity"
        )
        said = said if len(said) <= 40 else said[:40] + "…"
        assert problem["detail"] == (
            f"the gateway takes request bodies unencoded (Content-Encoding: {said!r} is not supported): "
            "send the body as it is, without Content-Encoding"
        )
    assert (await admin.get("/jobs/list", params={"since": since})).json()["jobs"] == []


async def test_content_encoding_identity_or_without_a_body_is_fine(gateway: Gateway) -> None:
    """`identity` is no coding; a request without a body is not refused for the header; the login form is
    refused like any other body."""
    async with httpx.AsyncClient(
        base_url=gateway.url, timeout=60, headers=bearer(gateway.keys.admin)
    ) as client:
        taken = await client.post(
            "/jobs/submit", content=ECHO, headers=JSON | {"content-encoding": "identity"}
        )
        assert taken.status_code == 202, taken.text[:300]
        listed = await client.get("/jobs/list", headers={"content-encoding": "gzip"})
        assert listed.status_code == 200
    form = f"api_key={gateway.keys.alice_read}".encode()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as browser:
        login = await browser.post(
            "/ui/login",
            content=gzip.compress(form),
            headers={"content-type": "application/x-www-form-urlencoded", "content-encoding": "gzip"},
        )
        assert login.status_code == 415


# -- the login form -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "status"),
    [
        (b"api_key=caf\xff\xfe", 303),  # not UTF-8: no key has these characters
        (b"&".join(b"f%d=1" % n for n in range(10)), 422),  # more fields than a login form has: it was a 500
        (b"api_key=" + b"[" * 100_000, 303),
    ],
)
async def test_a_hostile_login_form_gets_an_answer(gateway: Gateway, form: bytes, status: int) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as browser:
        answer = await browser.post(
            "/ui/login", content=form, headers={"content-type": "application/x-www-form-urlencoded"}
        )
    assert answer.status_code == status, answer.text[:300]
    if status == 303:
        assert answer.headers["location"] == "/ui/?login=failed"
    else:
        assert answer.json()["detail"] == "the login form takes one field, api_key (more than 5 were sent)"


# -- the reader itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), f"nests deeper than {MAX_DEPTH} levels"),
        (b'["' + b'\\"' * 600 + b'", ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"]", "nests deeper"),
        (b'{"' + b"\\\\" * 600 + b'": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", "nests deeper"),
        ('{"a": 1}'.encode("utf-16")[:-1], "not valid UTF-16 (it ends within a character, at offset 16)"),
        (
            b'["x", "' + b"1" * 5000 + b'",\n ' + b"1" * 4301 + b"]",
            "more than 4300 digits (at line 2 column 2)",
        ),
        (b"{} {}", "Extra data at line 1 column 4"),
    ],
)
def test_the_reader_says_why(body: bytes, message: str) -> None:
    """Depth is counted outside strings (escaped quotes and backslashes within them aside), digits within
    strings are text, and the place of what is wrong is the body's own."""
    with pytest.raises(UnreadableBody) as refused:
        read_json(body)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * MAX_DEPTH + b"]" * MAX_DEPTH,
        b'["' + b"[" * 5000 + b'"]',  # brackets within a string
        b'["\\\\", ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"]",  # an escaped backslash ends it
        '{"a": "é"}'.encode("utf-16"),
        b"[" + b"1" * 4300 + b"]",
    ],
)
def test_the_reader_takes_what_is_within_the_limits(body: bytes) -> None:
    assert read_json(body) == json.loads(body)
