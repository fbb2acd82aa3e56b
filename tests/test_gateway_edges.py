"""The gateway at its edges, as a client or operator meets them: an over-limit body sent chunked gets the
same 413 as one that declares its length, on every route; the OpenAPI document says how a key is sent and
which errors each operation answers (and the gateway really does so); /docs and /redoc work with no internet;
behind a TLS proxy on another host (FORWARDED_ALLOW_IPS) the login cookie is Secure. Gateways of their own
(no workers) on a Redis database of their own."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.conftest import ApiKeys, bearer, wait_until_ready
from tests.support.browser import chromium, output_dir, page_context, until_true
from tests.support.lone_gateway import LoneGateway, lone_gateway
from tests.support.otlp import OtlpReceiver
from tools.localredis import free_port
from tools.procs import ServiceProcess

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

EDGES_DB = 15
MAX_BODY = 1024 * 1024
TIMEOUT_MS = 20_000


Gateway = LoneGateway


@pytest.fixture(scope="module")
async def gateway(
    redis_url: str, otlp: OtlpReceiver, api_keys: ApiKeys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    async with lone_gateway(redis_url, EDGES_DB, otlp, api_keys, tmp_path_factory.mktemp("edges")) as gateway:
        yield gateway


def as_key(gateway: Gateway, key: str | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, timeout=60, headers=bearer(key) if key else {})


# -- bodies over MAX_BODY_BYTES, sent chunked ---------------------------------------------------------------


PREFIX = b'{"job_type": "echo", "payload": {"x": "'
SUFFIX = b'"}}'


async def chunked(size: int) -> AsyncIterator[bytes]:
    """A JSON body of `size` bytes as a generator: httpx sends it with Transfer-Encoding: chunked."""
    yield PREFIX
    left = size - len(PREFIX) - len(SUFFIX)
    while left > 0:
        yield b"a" * min(64 * 1024, left)
        left -= 64 * 1024
    yield SUFFIX


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


OVER_LIMIT = [
    ("POST", "/jobs/submit", "application/json", "admin"),
    ("POST", "/jobs/submit", "text/plain", "admin"),
    ("POST", "/keys", "application/json", "admin"),
    ("POST", "/jobs/dead/retry", "application/json", "admin"),
    ("POST", "/jobs/schedules", "application/json", "admin"),
    ("POST", "/ui/login", "application/x-www-form-urlencoded", None),
    ("POST", "/jobs/submit", "multipart/form-data; boundary=x", "admin"),
    ("POST", "/jobs/submit", "application/json", None),  # no key: 413 before 401, as with a declared length
    ("GET", "/jobs/list", "application/json", "alice_read"),  # a route that reads no body
    ("POST", "/no/such/route", "application/json", "admin"),
]


@pytest.mark.parametrize(("method", "path", "media_type", "who"), OVER_LIMIT)
async def test_an_over_limit_chunked_body_gets_413_on_every_route(
    gateway: Gateway, method: str, path: str, media_type: str, who: str | None
) -> None:
    """Refused as a declared Content-Length over the limit is (a problem body naming the limit), whatever
    route and media type; the same connection then serves the next request."""
    key = getattr(gateway.keys, who) if who else None
    async with as_key(gateway, key) as client:
        for size in (MAX_BODY + 1, 3 * MAX_BODY):
            answer = await client.request(
                method, path, content=chunked(size), headers={"content-type": media_type}
            )
            assert answer.status_code == 413, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json() == {
                "type": "about:blank",
                "title": "Payload Too Large",
                "status": 413,
                "detail": f"request body larger than {MAX_BODY} bytes",
            }
        health = await client.get("/jobs/health")
        assert health.status_code == 200
    assert gateway.process.alive()


async def test_a_chunked_body_within_the_limit_reaches_its_route_whole(gateway: Gateway) -> None:
    """Up to MAX_BODY_BYTES a chunked body is read ahead and handed to the route as it was sent: a job is
    created from it, a bad one is a 422 naming the field, the login form takes its key."""
    async with as_key(gateway, gateway.keys.alice_submit) as client:
        near = MAX_BODY - 100  # over the 64 KiB payload cap: refused by the job model, not by the size limit
        refused = await client.post(
            "/jobs/submit", content=chunked(near), headers={"content-type": "application/json"}
        )
        assert refused.status_code == 422, refused.text
        assert "longer than 65536 bytes" in refused.json()["detail"]
        created = await client.post(
            "/jobs/submit", content=chunked(30_000), headers={"content-type": "application/json"}
        )
        assert created.status_code == 202, created.text
        assert created.json()["request"]["payload"]["x"] == "a" * (30_000 - len(PREFIX) - len(SUFFIX))
    form = f"api_key={gateway.keys.alice_read}".encode()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as browser:
        login = await browser.post(
            "/ui/login",
            content=pieces(form[:10], form[10:]),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert login.status_code == 303
        assert login.headers["location"] == "/ui/"
        assert "mediajobs_key=" in login.headers["set-cookie"]


# -- the OpenAPI document ---------------------------------------------------------------------------------


def document(**settings: Any) -> dict[str, Any]:
    return create_app(GatewaySettings(**settings)).openapi()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


OPEN = {("GET", "/jobs/health")}
"""Operations anyone may call (a key only adds details)."""
PROBLEM_STATUSES = {"401", "403", "404", "409", "413", "422", "429", "503"}


def test_the_openapi_document_says_how_a_key_is_sent() -> None:
    """Every way the gateway takes a key is a security scheme; every operation that needs a key requires
    one of them (any one), the open one takes them optionally; /docs' "Authorize" and generated clients can
    send a key."""
    doc = document()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerKey"] == {**schemes["bearerKey"], "type": "http", "scheme": "bearer"}
    assert {k: schemes["apiKeyHeader"][k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    assert {k: schemes["dashboardCookie"][k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "mediajobs_key",
    }
    assert "X-Mediajobs-CSRF" in schemes["dashboardCookie"]["description"]
    each: list[dict[str, list[str]]] = [{"bearerKey": []}, {"apiKeyHeader": []}, {"dashboardCookie": []}]
    seen = list(operations(doc))
    assert len(seen) >= 25
    for method, path, operation in seen:
        if (method, path) in OPEN:
            assert operation["security"] == [{}, *each], path
        else:
            assert operation["security"] == each, (method, path)
    without_auth = document(auth=False)
    assert "securitySchemes" not in without_auth["components"]
    assert all("security" not in op and "401" not in op["responses"] for _, _, op in operations(without_auth))


def test_the_openapi_document_lists_the_errors_each_operation_answers() -> None:
    """401 wherever a key is needed; 403 for a role too low, another owner named or the cookie without its
    CSRF header; 413 where a body is taken; 422 with the gateway's own problem shape; 429 with Retry-After
    for submissions and event streams; 503 everywhere: each an application/problem+json body."""
    doc = document()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 shape, which the gateway never sends
    assert set(schemas["ValidationProblem"]["properties"]) >= {"title", "status", "detail", "errors"}
    for method, path, operation in operations(doc):
        responses = operation["responses"]
        for status, answer in responses.items():
            if status in PROBLEM_STATUSES and (method, path, status) != ("GET", "/jobs/health", "503"):
                assert list(answer["content"]) == ["application/problem+json"], (method, path, status)
        if (method, path) not in OPEN:
            assert "WWW-Authenticate" in responses["401"]["headers"], path
        assert ("413" in responses) == ("requestBody" in operation), (method, path)
        assert "503" in responses
        if "422" in responses:
            schema = responses["422"]["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ValidationProblem"}, path
    responses = {(m, p): op["responses"] for m, p, op in operations(doc)}
    assert "it needs a submit or admin key" in responses["POST", "/jobs/submit"]["403"]["description"]
    assert "Retry-After" in responses["POST", "/jobs/submit"]["429"]["headers"]
    assert "429" in responses["GET", "/jobs/stream"]
    assert "429" not in responses["GET", "/jobs/list"]
    assert "another `owner`" in responses["GET", "/jobs/list"]["403"]["description"]
    assert "another `owner`" in responses["POST", "/jobs/dead/retry"]["403"]["description"]
    assert "X-Mediajobs-CSRF" in responses["POST", "/jobs/{task_id}/cancel"]["403"]["description"]
    assert "403" not in responses["GET", "/jobs/{task_id}/status"]  # any key may read its own jobs
    assert "it needs an admin key" in responses["GET", "/keys"]["403"]["description"]
    assert "403" not in responses["GET", "/jobs/health"]
    assert "401" not in responses["GET", "/jobs/health"]


def _concrete(path: str) -> str:
    return path.replace("{task_id}", "0" * 32).replace("{name}", "nightly").replace("{key_id}", "0" * 16)


async def test_the_gateway_answers_as_its_openapi_document_says(gateway: Gateway) -> None:
    """Without a key every operation the document marks as needing one answers 401 (with its problem body
    and WWW-Authenticate), and the open one does not; with a read key, operations documented with 403 for
    the role answer 403 and the others never do."""
    async with as_key(gateway, None) as anonymous, as_key(gateway, gateway.keys.alice_read) as reader:
        doc = (await anonymous.get("/openapi.json")).json()
        for method, path, operation in operations(doc):
            body: dict[str, Any] | None = {} if "requestBody" in operation else None
            answer = await anonymous.request(method, _concrete(path), json=body)
            if (method, path) in OPEN:
                assert answer.status_code == 200, (method, path, answer.text)
                continue
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.json()["title"] == "Unauthorized"
            async with reader.stream(method, _concrete(path), json=body) as read:  # /jobs/stream never ends
                status = read.status_code
            refused_for_role = "needs" in operation["responses"].get("403", {}).get("description", "")
            if refused_for_role and "{task_id}" not in path:  # an unknown job is a 404 before the role
                assert status == 403, (method, path, status)
            if status == 403:
                assert refused_for_role, (method, path)
            assert str(status) in operation["responses"], (method, path, status)


# -- /docs and /redoc without the internet ----------------------------------------------------------------


@dataclass
class Visit:
    """What a page asked for outside the gateway (refused here, as offline), and what went wrong in it."""

    base: str
    foreign: list[str]
    errors: list[str]

    async def gate(self, route: Route) -> None:
        if route.request.url.startswith(self.base + "/"):
            await route.continue_()
        else:
            self.foreign.append(route.request.url)
            await route.abort()

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)


async def test_the_api_docs_work_offline_under_a_strict_csp(
    gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    """/docs (Swagger UI) loads nothing but the gateway's own files, runs under a Content-Security-Policy of
    this origin only, lists every operation, and "Authorize" with a key then "Try it out" calls the API with
    it; "Try it out" on POST /jobs/submit offers the documented examples by name, pre-filled with the first;
    /redoc renders the operations too, and neither page asks any other host for anything nor logs an error
    (ReDoc's footer no longer tries a third-party logo)."""
    shots = output_dir(request)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        page_answer = await client.get("/docs")
        assert page_answer.status_code == 200
        assert "script-src 'self';" in page_answer.headers["content-security-policy"] + ";"
        assert "unsafe-inline" not in page_answer.headers["content-security-policy"]
        assert not re.search(r"https?://", page_answer.text)
        assert (await client.get("/docs/assets/nope.js")).status_code == 404
        doc = (await client.get("/openapi.json")).json()
        expected = len(list(operations(doc)))
        bundle = await client.get("/docs/assets/redoc.standalone.js")
        assert bundle.status_code == 200
        assert b"cdn.redoc.ly" not in bundle.content
        again = await client.get(
            "/docs/assets/redoc.standalone.js", headers={"If-None-Match": bundle.headers["etag"]}
        )
        assert again.status_code == 304
    examples = doc["paths"]["/jobs/submit"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    async with chromium() as browser, page_context(browser) as context:
        visit = Visit(gateway.url, [], [])
        await context.route("**/*", visit.gate)
        page = await context.new_page()
        visit.watch(page)
        await page.goto(gateway.url + "/docs")
        await page.wait_for_selector(".opblock-summary-path", timeout=TIMEOUT_MS)
        listed = await page.eval_on_selector_all(
            ".opblock-summary-path", "els => els.map(e => e.textContent)"
        )
        assert len(listed) == expected
        assert "/jobs/submit" in listed
        await page.click("button.authorize")
        await page.fill(".auth-container input >> nth=0", gateway.keys.alice_read)
        await page.click(".auth-container button.authorize >> nth=0")
        await page.click("button.btn-done")
        operation = "#operations-jobs-job_types_jobs_types_get"
        await page.click(f"{operation} .opblock-summary")
        await page.click(f"{operation} button.try-out__btn")
        await page.click(f"{operation} button.execute")
        status = f"{operation} .live-responses-table tbody .response-col_status"
        await page.wait_for_selector(status, timeout=TIMEOUT_MS)
        assert (await page.text_content(status) or "").strip() == "200"
        await page.screenshot(path=str(shots / "docs.png"))

        submit = "#operations-jobs-submit_jobs_submit_post"
        await page.click(f"{submit} .opblock-summary")
        await page.click(f"{submit} button.try-out__btn")
        body = f"{submit} textarea.body-param__text"
        await page.wait_for_selector(body, timeout=TIMEOUT_MS)
        assert json.loads(await page.input_value(body)) == next(iter(examples.values()))["value"]
        choices = f"{submit} select.examples-select-element"
        offered = await page.eval_on_selector(choices, "s => [...s.options].map(o => [o.value, o.text])")
        assert [value for value, _ in offered] == list(examples)
        assert [text for _, text in offered] == [example["summary"] for example in examples.values()]
        await page.select_option(choices, "thumbnail")
        await until_true(page, f"document.querySelector('{body}').value.includes('\"thumbnail\"')")
        assert json.loads(await page.input_value(body)) == examples["thumbnail"]["value"]
        await page.screenshot(path=str(shots / "docs-submit-examples.png"))
        assert visit.foreign == []
        assert visit.errors == []

        redoc = await context.new_page()
        visit.watch(redoc)
        await redoc.goto(gateway.url + "/redoc")
        await redoc.wait_for_selector('text="/jobs/submit"', timeout=TIMEOUT_MS)
        footer = redoc.get_by_text("API docs by Redocly")
        await footer.wait_for(timeout=TIMEOUT_MS)  # the footer (where the logo was) has been drawn
        first = next(iter(examples.values()))["summary"]  # the submit sample is an example, chosen by name
        await redoc.get_by_text(first, exact=True).first.wait_for(state="attached", timeout=TIMEOUT_MS)
        await redoc.screenshot(path=str(shots / "redoc.png"))
        images = await redoc.eval_on_selector_all("img", "els => els.map(e => e.getAttribute('src'))")
        assert [src for src in images if src and re.match(r"(?i)https?:|//", src)] == [], images
        assert visit.foreign == []
        assert visit.errors == []


# -- the login cookie behind a TLS proxy ---------------------------------------------------------------------


async def _login_from(url: str, source: str, key: str, headers: dict[str, str]) -> str:
    """The login cookie as set for a browser whose request came from address `source`."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=url, timeout=30, transport=transport) as client:
        answer = await client.post(
            "/ui/login",
            content=f"api_key={key}",
            headers={"content-type": "application/x-www-form-urlencoded", **headers},
        )
    assert answer.status_code == 303, answer.text
    return answer.headers["set-cookie"]


async def test_a_trusted_proxy_saying_https_gets_a_secure_cookie(gateway: Gateway) -> None:
    """With FORWARDED_ALLOW_IPS naming the proxy's address, a login through it with X-Forwarded-Proto: https
    sets the cookie Secure; the same header from another address is not believed (and by default only the
    gateway's own host is)."""
    port = free_port()
    gateway.cluster.start(
        "gateway",
        GATEWAY_PORT=str(port),
        API_KEYS_FILE=str(gateway.keys.file(gateway.folder)),
        FORWARDED_ALLOW_IPS="127.0.0.2, 10.20.0.0/16",
    )
    url = f"http://127.0.0.1:{port}"
    await asyncio.to_thread(wait_until_ready, url, set(), gateway.keys.admin, 60.0)
    https = {"x-forwarded-proto": "https"}
    key = gateway.keys.alice_read
    assert "secure" in (await _login_from(url, "127.0.0.2", key, https)).lower()
    assert "secure" not in (await _login_from(url, "127.0.0.2", key, {})).lower()
    assert "secure" not in (await _login_from(url, "127.0.0.3", key, https)).lower()
    assert "secure" not in (await _login_from(gateway.url, "127.0.0.2", key, https)).lower()
    assert "secure" in (await _login_from(gateway.url, "127.0.0.1", key, https)).lower()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("10.1.2.3/8", "host bits set"),
        ("10.0.0.0/33", "not an IP address or network"),
        ("ingress.example", "not an IP address or network"),
        ("*, 10.0.0.1", "stands alone"),
    ],
)
async def test_a_mistyped_forwarded_allow_ips_stops_the_gateway(
    gateway: Gateway, value: str, says: str
) -> None:
    """Uvicorn would take the entry for a name no peer has and believe no proxy, silently (the cookie would
    lack Secure): the gateway refuses to start, naming the setting and the entry."""
    process = gateway.cluster.start("gateway", GATEWAY_PORT=str(free_port()), FORWARDED_ALLOW_IPS=value)
    assert process.process is not None
    try:
        await asyncio.to_thread(process.wait, 60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the gateway started with FORWARDED_ALLOW_IPS={value}")
    assert process.process.returncode != 0
    output = process.output()
    assert "forwarded_allow_ips" in output
    assert says in output


# -- signals while the gateway starts --------------------------------------------------------------------


@pytest.fixture
async def silent_redis() -> AsyncIterator[str]:
    """A Redis URL whose server takes connections and never answers (a start-up that cannot finish)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def _exit_status(process: ServiceProcess, timeout: float) -> int | None:
    """The exit status, once its output is read to the end (else its last lines may not be in `output()`)."""
    try:
        return await asyncio.to_thread(process.wait, timeout)
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_during_start_up_stops_the_gateway_at_once(
    gateway: Gateway, silent_redis: str, sig: signal.Signals
) -> None:
    """Ctrl-C (or SIGTERM) while the start-up waits for Redis ends the process at once, by that signal,
    saying so (uvicorn used to note it and wait until the start-up failed on Redis's time-outs: exit status
    3 and a Redis traceback, as if the start had failed by itself)."""
    process = gateway.cluster.start("gateway", GATEWAY_PORT=str(free_port()), REDIS_URL=silent_redis)
    deadline = asyncio.get_running_loop().time() + 60
    while "Waiting for application startup" not in process.output():
        assert asyncio.get_running_loop().time() < deadline, process.output()
        await asyncio.sleep(0.05)
    os.kill(process.pid, sig)
    status = await _exit_status(process, 15)
    if status is None:
        process.kill()
    assert status == -sig, process.output()
    assert f"{sig.name} during start-up: stopping" in process.output()


async def test_a_signal_once_serving_still_stops_the_gateway_gracefully(gateway: Gateway) -> None:
    """Once it serves, SIGINT is uvicorn's graceful shutdown as before: exit status 0."""
    port = free_port()
    process = gateway.cluster.start("gateway", GATEWAY_PORT=str(port))
    await asyncio.to_thread(wait_until_ready, f"http://127.0.0.1:{port}", set(), gateway.keys.admin, 60.0)
    os.kill(process.pid, signal.SIGINT)
    assert await _exit_status(process, 30) == 0, process.output()
    assert "Finished server process" in process.output()
