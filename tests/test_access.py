"""Access control: API keys with owners and roles, scoped jobs, key management, limits, hostile requests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.api_keys import ApiKey, KeyStore, ProvisionedKey, Role
from gateway.revocable import while_key_valid
from tests.cluster import Cluster
from tests.conftest import ApiKeys, Stack, bearer, wait_until_ready
from tests.jobs import wait_terminal
from tools.localredis import LocalRedis, free_port


@pytest.fixture
async def anon(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        yield client


def as_key(stack: Stack, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=bearer(key))


async def test_without_a_valid_key_every_route_answers_401_but_liveness(anon: httpx.AsyncClient) -> None:
    """No key or a wrong one: 401 with WWW-Authenticate everywhere; health says only whether it is up."""
    for method, path in [
        ("POST", "/jobs/submit"),
        ("GET", "/jobs/list"),
        ("GET", "/jobs/dead"),
        ("GET", f"/jobs/{'0' * 32}/status"),
        ("POST", f"/jobs/{'0' * 32}/cancel"),
        ("GET", "/keys"),
    ]:
        response = await anon.request(method, path, json={"job_type": "echo"} if method == "POST" else None)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"
    wrong = await anon.get("/jobs/list", headers=bearer("mj_not_a_key_at_all_000000"))
    assert wrong.status_code == 401
    health = await anon.get("/jobs/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}  # no hosts, paths, pids or task ids without an admin key


async def test_another_owners_job_is_404_everywhere(stack: Stack, api_keys: ApiKeys) -> None:
    """Bob cannot see, follow, cancel or retry Alice's job: each answers 404 as for an unknown id; lists and
    dead letters are scoped to the caller; an admin sees everything."""
    async with (
        as_key(stack, api_keys.alice_submit) as alice,
        as_key(stack, api_keys.bob_submit) as bob,
        as_key(stack, api_keys.admin) as admin,
    ):
        job = (await alice.post("/jobs/submit", json={"job_type": "echo", "sleep_s": 5})).json()
        assert job["owner"] == "alice"
        task = job["task_id"]
        for method, path in [
            ("GET", f"/jobs/{task}/status"),
            ("GET", f"/jobs/{task}/progress"),
            ("GET", f"/jobs/{task}/result"),
            ("GET", f"/jobs/{task}/events"),
            ("GET", f"/jobs/{task}/items"),
            ("POST", f"/jobs/{task}/cancel"),
            ("POST", f"/jobs/{task}/retry"),
        ]:
            response = await bob.request(method, path)
            assert response.status_code == 404, (path, response.status_code)
        listed = (await bob.get("/jobs/list", params={"limit": 500})).json()["jobs"]
        assert task not in [j["task_id"] for j in listed]
        assert all(j["owner"] == "bob" for j in listed)
        mine = (await alice.get("/jobs/list")).json()["jobs"]
        assert task in [j["task_id"] for j in mine]
        assert all(j["owner"] == "alice" for j in mine)
        everyone = (await admin.get("/jobs/list", params={"owner": "alice"})).json()["jobs"]
        assert task in [j["task_id"] for j in everyone]
        assert (await admin.get(f"/jobs/{task}/status")).status_code == 200
        assert (await alice.post(f"/jobs/{task}/cancel")).status_code == 202


async def test_a_non_admin_key_naming_another_owner_is_refused_with_403(
    stack: Stack, api_keys: ApiKeys
) -> None:
    """`owner=` naming another owner is an admin's filter: a submit or read key gets 403 saying so (it used
    to get its own jobs, as if they were that owner's), on every route that takes it; its own owner is ok."""
    refused = [
        ("GET", "/jobs/list", None),
        ("GET", "/jobs/counts", None),
        ("GET", "/jobs/stream", None),
        ("GET", "/jobs/dead", None),
        ("GET", "/jobs/dead/summary", None),
        ("POST", "/jobs/dead/retry", {"filter": {"owner": "alice"}, "dry_run": True}),
    ]
    async with (
        as_key(stack, api_keys.alice_submit) as alice,
        as_key(stack, api_keys.bob_submit) as bob,
        as_key(stack, api_keys.alice_read) as reader,
        as_key(stack, api_keys.admin) as admin,
    ):
        job = (await alice.post("/jobs/submit", json={"job_type": "echo"})).json()
        for method, path, body in refused:
            params = None if body else {"owner": "alice"}
            response = await bob.request(method, path, params=params, json=body)
            assert response.status_code == 403, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert "only admin keys may list other owners' jobs" in response.json()["detail"], path
        answer = await reader.get("/jobs/list", params={"owner": "bob", "q": "anything"})
        assert answer.status_code == 403
        assert "'alice'" in answer.json()["detail"]  # names the owner the key may see

        own = await alice.get("/jobs/list", params={"owner": "alice", "limit": 500})
        assert own.status_code == 200
        assert job["task_id"] in [j["task_id"] for j in own.json()["jobs"]]
        assert all(j["owner"] == "alice" for j in own.json()["jobs"])
        assert (await reader.get("/jobs/counts", params={"owner": "alice"})).json()["total"] >= 1
        assert (await alice.get("/jobs/dead", params={"owner": "alice"})).status_code == 200
        async with alice.stream("GET", "/jobs/stream", params={"owner": "alice"}) as stream:
            assert stream.status_code == 200
        theirs = (await admin.get("/jobs/list", params={"owner": "alice", "limit": 500})).json()["jobs"]
        assert job["task_id"] in [j["task_id"] for j in theirs]


async def test_follow_ups_inherit_the_owner(stack: Stack, api_keys: ApiKeys) -> None:
    """A follow-up belongs to its parent's owner: visible to Alice, 404 for Bob."""
    async with as_key(stack, api_keys.alice_submit) as alice, as_key(stack, api_keys.bob_submit) as bob:
        parent = (
            await alice.post("/jobs/submit", json={"job_type": "echo", "then": [{"job_type": "echo"}]})
        ).json()
        done = await wait_terminal(alice, parent["task_id"])
        (child,) = done["children"]
        child_job = await wait_terminal(alice, child)
        assert child_job["owner"] == "alice"
        assert (await bob.get(f"/jobs/{child}/status")).status_code == 404


async def test_a_read_key_reads_but_cannot_act(stack: Stack, api_keys: ApiKeys) -> None:
    """Role `read`: its owner's jobs yes; submit, cancel, retry and key management: 403."""
    async with as_key(stack, api_keys.alice_submit) as alice, as_key(stack, api_keys.alice_read) as reader:
        job = (await alice.post("/jobs/submit", json={"job_type": "echo", "sleep_s": 3})).json()
        assert (await reader.get(f"/jobs/{job['task_id']}/status")).status_code == 200
        assert (await reader.post("/jobs/submit", json={"job_type": "echo"})).status_code == 403
        assert (await reader.post(f"/jobs/{job['task_id']}/cancel")).status_code == 403
        assert (await reader.get("/keys")).status_code == 403
        assert (await alice.get("/keys")).status_code == 403
        assert (await alice.post(f"/jobs/{job['task_id']}/cancel")).status_code == 202


async def test_keys_are_created_shown_once_listed_and_revoked_within_a_second(
    stack: Stack, api_keys: ApiKeys
) -> None:
    """An admin creates a key (the secret is in that answer only), it works, the list never shows secrets,
    and after revocation it is refused within a second."""
    async with as_key(stack, api_keys.admin) as admin:
        created = await admin.post(
            "/keys", json={"name": "carol's laptop", "owner": "carol", "role": "submit"}
        )
        assert created.status_code == 201, created.text
        secret, key_id = created.json()["key"], created.json()["id"]
        assert len(secret) >= 40
        listed = (await admin.get("/keys")).json()
        assert key_id in [k["id"] for k in listed]
        assert secret not in str(listed)
        bad_owner = await admin.post("/keys", json={"name": "x", "owner": "../evil", "role": "admin"})
        assert bad_owner.status_code == 422
        async with as_key(stack, secret) as carol:
            job = await carol.post("/jobs/submit", json={"job_type": "echo"})
            assert job.status_code == 202
            assert job.json()["owner"] == "carol"
            assert (await admin.delete(f"/keys/{key_id}")).status_code == 204
            await asyncio.sleep(1.2)
            assert (await carol.get("/jobs/list")).status_code == 401
        assert (await admin.delete(f"/keys/{key_id}")).status_code == 404


async def _lines_until_closed(client: httpx.AsyncClient, path: str, opened: asyncio.Event) -> int:
    """Read an event stream until the server ends it; the lines read."""
    lines = 0
    async with client.stream("GET", path) as response:
        assert response.status_code == 200, await response.aread()
        opened.set()
        async for _line in response.aiter_lines():
            lines += 1
    return lines


async def test_a_revoked_keys_open_event_streams_end_within_seconds(stack: Stack, api_keys: ApiKeys) -> None:
    """Streams opened with a key (every change, one job's events) end soon after the key is revoked, events
    flowing or not; it is not brought back either."""
    async with as_key(stack, api_keys.admin) as admin:
        made = await admin.post("/keys", json={"name": "dave", "owner": "dave", "role": "submit"})
        secret, key_id = made.json()["key"], made.json()["id"]
        async with as_key(stack, secret) as dave:
            job = (await dave.post("/jobs/submit", json={"job_type": "echo", "sleep_s": 60})).json()
            opened = [asyncio.Event(), asyncio.Event()]
            streams = [
                asyncio.create_task(_lines_until_closed(dave, "/jobs/stream", opened[0])),
                asyncio.create_task(_lines_until_closed(dave, f"/jobs/{job['task_id']}/events", opened[1])),
            ]
            async with asyncio.timeout(20):
                await asyncio.gather(*(event.wait() for event in opened))
            assert (await admin.delete(f"/keys/{key_id}")).status_code == 204
            revoked = asyncio.get_running_loop().time()
            async with asyncio.timeout(10):
                await asyncio.gather(*streams)
            assert asyncio.get_running_loop().time() - revoked < 5
        await admin.post(f"/jobs/{job['task_id']}/cancel")


async def test_idempotency_keys_are_per_owner_and_bound_to_the_request(
    stack: Stack, api_keys: ApiKeys
) -> None:
    """The same Idempotency-Key: replayed for the same owner and body; 422 for another body; a separate job
    for another owner."""
    headers = {"Idempotency-Key": "order-42"}
    async with as_key(stack, api_keys.alice_submit) as alice, as_key(stack, api_keys.bob_submit) as bob:
        first = await alice.post(
            "/jobs/submit", json={"job_type": "echo", "payload": {"n": 1}}, headers=headers
        )
        again = await alice.post(
            "/jobs/submit", json={"job_type": "echo", "payload": {"n": 1}}, headers=headers
        )
        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["task_id"] == first.json()["task_id"]
        other = await alice.post(
            "/jobs/submit", json={"job_type": "echo", "payload": {"n": 2}}, headers=headers
        )
        assert other.status_code == 422
        assert "Idempotency-Key" in other.json()["detail"]
        bobs = await bob.post("/jobs/submit", json={"job_type": "echo", "payload": {"n": 1}}, headers=headers)
        assert bobs.status_code == 202
        assert bobs.json()["task_id"] != first.json()["task_id"]
        # a schedule's ticks use spaced keys ("schedule <name> <tick>"), which no client can send
        spaced = {"Idempotency-Key": "schedule nightly 1796000000.0"}
        taken = await alice.post("/jobs/submit", json={"job_type": "echo"}, headers=spaced)
        assert taken.status_code == 422, taken.text


async def test_hostile_requests_get_clear_4xx(api: httpx.AsyncClient, stack: Stack) -> None:
    """A body over 1 MiB: 413; a foreign Host header (DNS rebinding): 400; an unknown job type filter: 422;
    no CORS headers unless configured; every error is problem+json."""
    big = await api.post(
        "/jobs/submit",
        content=b'{"job_type": "echo", "payload": {"x": "' + b"a" * (1024 * 1024 + 10) + b'"}}',
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 413
    assert big.headers["content-type"] == "application/problem+json"
    rebound = await api.get("/jobs/list", headers={"host": "attacker.example"})
    assert rebound.status_code == 400
    unknown = await api.get("/jobs/list", params={"job_type": "nope"})
    assert unknown.status_code == 422
    assert "job_type" in unknown.json()["detail"]
    preflight = await api.options(
        "/jobs/submit", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def _limited_gateway(cluster: Cluster, tmp_path: Path, api_keys: ApiKeys, **limits: str) -> str:
    """A gateway of its own with the test's keys and `limits` (no workers); its URL once it answers."""
    port = free_port()
    cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)), **limits)
    api_url = f"http://127.0.0.1:{port}"
    wait_until_ready(api_url, set(), api_keys.admin)
    return api_url


async def test_rate_limit_and_quota_answer_429_with_retry_after(
    cluster: Cluster, tmp_path: Path, api_keys: ApiKeys
) -> None:
    """Per key: a burst of 3 then ~1 a second (429 + Retry-After beyond, shared in Redis); per owner: at most
    4 unfinished jobs (429 beyond); per key: at most 2 open event streams (429 beyond)."""
    api_url = _limited_gateway(
        cluster,
        tmp_path,
        api_keys,
        SUBMIT_RATE_PER_S="1",
        SUBMIT_BURST="3",
        MAX_ACTIVE_JOBS="4",
        MAX_EVENT_STREAMS_PER_KEY="2",
    )
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        alice, bob = bearer(api_keys.alice_submit), bearer(api_keys.bob_submit)
        answers = [
            (await client.post("/jobs/submit", json={"job_type": "echo"}, headers=alice)).status_code
            for _ in range(4)
        ]
        assert answers == [202, 202, 202, 429]
        limited = await client.post("/jobs/submit", json={"job_type": "echo"}, headers=alice)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        await asyncio.sleep(1.1)
        assert (
            await client.post("/jobs/submit", json={"job_type": "echo"}, headers=alice)
        ).status_code == 202
        await asyncio.sleep(1.1)  # alice now has 4 queued jobs (no worker runs in this cluster)
        over = await client.post("/jobs/submit", json={"job_type": "echo"}, headers=alice)
        assert over.status_code == 429
        assert "4 unfinished jobs (scheduled, queued, retrying or running" in over.json()["detail"]
        assert over.headers["retry-after"] == "6"  # a fixed guess: when one of them ends is not known
        queued = await client.post("/jobs/submit", json={"job_type": "echo"}, headers=bob)
        assert queued.status_code == 202
        events = f"/jobs/{queued.json()['task_id']}/events"
        async with (
            client.stream("GET", events, headers=bob) as first,
            client.stream("GET", events, headers=bob) as second,
        ):
            assert (first.status_code, second.status_code) == (200, 200)
            third = await client.get(events, headers=bob)
            assert third.status_code == 429  # per key: two open streams at most
            assert (
                await client.get(f"/jobs/{queued.json()['task_id']}/status", headers=bob)
            ).status_code == 200
        await asyncio.sleep(0.5)
        async with client.stream("GET", events, headers=bob) as again:
            assert again.status_code == 200  # closed streams give their slots back


@contextlib.asynccontextmanager
async def _commands_seen(redis_url: str) -> AsyncIterator[list[str]]:
    """Every command run in `redis_url`'s database while the block runs, as MONITOR shows it (the server's
    command statistics would count the other tests' services too). The watch ends at a marker command sent
    after the block, so nothing the block caused is missed however late MONITOR reports it."""
    redis = Redis.from_url(redis_url)
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    marker = f"end-of-block-{uuid.uuid4().hex}"
    seen: list[str] = []
    async with redis.monitor() as monitor:

        async def watch() -> None:
            async for call in monitor.listen():
                if call["db"] == db:
                    if marker in call["command"]:
                        return
                    seen.append(call["command"])

        watcher = asyncio.create_task(watch())
        yield seen
        assert not watcher.done()  # still watching: it did not stop early on an error
        await redis.echo(marker)
        await asyncio.wait_for(watcher, timeout=30)
    await redis.aclose()


async def test_a_key_over_its_rate_is_refused_by_the_gateway_until_its_wait_is_over(
    cluster: Cluster, tmp_path: Path, api_keys: ApiKeys
) -> None:
    """After the create step refused a key for its rate, the gateway refuses the key's next submissions
    itself until the wait it was told is over: no create script runs for them (a flood costs Redis nothing,
    fresh Idempotency-Keys included), even an invalid body gets the 429 first; a replay (a known
    Idempotency-Key) is still answered, another key is unaffected, and once the wait is over the key
    submits again."""
    api_url = _limited_gateway(cluster, tmp_path, api_keys, SUBMIT_RATE_PER_S="0.25", SUBMIT_BURST="1")
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        alice, bob = bearer(api_keys.alice_submit), bearer(api_keys.bob_submit)
        echo = {"job_type": "echo"}
        first = await client.post("/jobs/submit", json=echo, headers={**alice, "Idempotency-Key": "k1"})
        assert first.status_code == 202
        refused = await client.post("/jobs/submit", json=echo, headers=alice)  # the create step says: wait
        assert refused.status_code == 429
        async with _commands_seen(cluster.redis_url) as commands:
            flood = [(await client.post("/jobs/submit", json=echo, headers=alice)) for _ in range(20)]
            flood += [
                await client.post("/jobs/submit", json=echo, headers={**alice, "Idempotency-Key": f"new-{i}"})
                for i in range(10)
            ]
            invalid = await client.post("/jobs/submit", json={"job_type": "nope"}, headers=alice)
        assert [c for c in commands if c.split(" ", 1)[0].upper() in {"EVAL", "EVALSHA"}] == []
        assert len([c for c in commands if c.upper().startswith("EXISTS") and "mj:idem:" in c]) == 10
        assert {answer.status_code for answer in [*flood, invalid]} == {429}
        assert all(1 <= int(answer.headers["retry-after"]) <= 4 for answer in flood)
        assert "too many submissions" in invalid.json()["detail"]
        replay = await client.post("/jobs/submit", json=echo, headers={**alice, "Idempotency-Key": "k1"})
        assert replay.status_code == 200
        assert replay.json()["task_id"] == first.json()["task_id"]
        assert (await client.post("/jobs/submit", json=echo, headers=bob)).status_code == 202
        await asyncio.sleep(float(refused.headers["retry-after"]) + 0.1)
        assert (await client.post("/jobs/submit", json=echo, headers=alice)).status_code == 202


async def test_dead_letters_are_scoped_to_their_owner(stack: Stack, api_keys: ApiKeys) -> None:
    """Alice's dead-lettered job is in her /jobs/dead and an admin's, never in Bob's."""
    async with (
        as_key(stack, api_keys.alice_submit) as alice,
        as_key(stack, api_keys.bob_submit) as bob,
        as_key(stack, api_keys.admin) as admin,
    ):
        body = {"job_type": "echo", "fail_with": "x", "fail_kind": "transient", "retry": {"max_attempts": 1}}
        job = (await alice.post("/jobs/submit", json=body)).json()
        final = await wait_terminal(alice, job["task_id"])
        assert (final["status"], final["dead"]) == ("failed", True)

        def listed(response: httpx.Response) -> list[str]:
            return [d["job"]["task_id"] for d in response.json()]

        assert job["task_id"] in listed(await alice.get("/jobs/dead"))
        assert job["task_id"] in listed(await admin.get("/jobs/dead"))
        assert job["task_id"] not in listed(await bob.get("/jobs/dead"))


async def test_auth_off_is_open_and_says_so(cluster: Cluster) -> None:
    """AUTH=off: no key needed (every caller is the admin `local`), and the gateway warns at start."""
    port = free_port()
    gateway = cluster.start("gateway", GATEWAY_PORT=str(port), AUTH="off")
    api_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        for _ in range(100):
            try:
                if (await client.get("/jobs/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.2)
        job = await client.post("/jobs/submit", json={"job_type": "echo"})
        assert job.status_code == 202
        assert job.json()["owner"] == "local"
        assert "services" in (await client.get("/jobs/health")).json()  # details: every caller is admin
    assert "AUTH=off" in gateway.output()


async def test_a_redis_outage_answers_503_without_internals(
    cluster: Cluster, tmp_path: Path, api_keys: ApiKeys
) -> None:
    """With Redis gone, the API answers 503 (problem+json, Retry-After) naming no host, port or error."""
    server = LocalRedis(tmp_path / "redis")
    url = server.start()
    cluster.redis_url = url
    port = free_port()
    cluster.start("gateway", GATEWAY_PORT=str(port), API_KEYS_FILE=str(api_keys.file(tmp_path)))
    api_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(api_url, set(), api_keys.admin)
        server.stop()
        async with httpx.AsyncClient(base_url=api_url, timeout=60, headers=bearer(api_keys.admin)) as client:
            listing = await client.get("/jobs/list")
            health = await client.get("/jobs/health")
    finally:
        cluster.stop_all()
        server.stop()
    assert listing.status_code == 503
    assert listing.headers["content-type"] == "application/problem+json"
    assert "retry-after" in listing.headers
    redis_port = url.rsplit(":", 1)[1].split("/")[0]
    for body in (listing.text, health.text):
        assert redis_port not in body
        assert "127.0.0.1" not in body
        assert "Error" not in body
    assert health.status_code == 503


async def test_a_revoked_key_of_the_keys_file_stays_revoked(unrun_redis: Redis) -> None:
    """`API_KEYS_FILE` is read at every gateway start: a key revoked through the API is not added again (the
    compose secret and the k8s Secret hold such keys)."""
    store = KeyStore(unrun_redis, cache_ttl_s=0)
    entry = ProvisionedKey(name="deploy admin", owner="ops", role=Role.ADMIN, key="mj_" + "k" * 40)
    kept = ProvisionedKey(name="reader", owner="ops", role=Role.READ, key="mj_" + "r" * 40)
    await store.provision([entry, kept])
    found = await store.lookup("mj_" + "k" * 40)
    assert found is not None
    assert await store.revoke(found.id)
    await store.provision([entry, kept])  # the next start
    assert await store.lookup("mj_" + "k" * 40) is None
    assert await store.lookup("mj_" + "r" * 40) is not None


async def test_a_stream_rides_out_redis_being_away_while_it_checks_its_key() -> None:
    """The key check of an open stream fails while Redis is away: the stream goes on (it rides out outages
    itself) instead of ending with an error."""

    class Unreachable:
        async def still_valid(self, key: ApiKey) -> bool:
            raise RedisConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    async def numbers() -> AsyncIterator[int]:
        for n in range(3):
            await asyncio.sleep(0.05)
            yield n

    key = ApiKey(id="k1", name="k", owner="o", role=Role.READ, created_at=datetime.now(UTC))
    stream = while_key_valid(numbers(), cast("KeyStore", Unreachable()), key, check_every_s=0.01)
    assert [n async for n in stream] == [0, 1, 2]
