"""Fetch rate limits per remote host (`RATE_LIMITS`), shared through Redis by every replica: the rules, the
turns the limiter hands out, and downloads from two processes taking turns at one host."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from jobcommon import JobClient, JobStatus, NetworkGuardSettings, keys
from jobcommon.gcra import Gcra, Rate
from jobcommon.host_limits import HostLimits, HostRule, parse_host_rules
from tests.cluster import Cluster
from tests.support.httpserver import MediaServer


def _rules(text: str) -> tuple[HostRule, ...]:
    return tuple(NetworkGuardSettings(rate_limits=text).rate_limits)


def test_rules_name_hosts_and_the_names_under_them_and_the_longest_wins(unrun_redis: Redis) -> None:
    limits = HostLimits(unrun_redis, _rules("youtube.com=2/s; music.youtube.com=30/min, *=10/s"))
    assert limits.limit_for("https://www.youtube.com/watch?v=x") == ("youtube.com", limits.rules[1])
    assert limits.limit_for("https://YouTube.com./watch")[0] == "youtube.com"  # type: ignore[index]
    name, rule = limits.limit_for("https://music.youtube.com/x")  # type: ignore[misc]
    assert (name, rule.per_s, rule.text) == ("music.youtube.com", 0.5, "30/min")
    assert limits.limit_for("https://notyoutube.com/x")[0] == "notyoutube.com"  # type: ignore[index]
    assert limits.limit_for("http://[::1]:8080/a")[0] == "::1"  # type: ignore[index]
    assert limits.limit_for("ytsearch:cats") is None  # names no host
    unlimited = HostLimits(unrun_redis, _rules("vimeo.com=1/s"))
    assert unlimited.limit_for("https://youtube.com/x") is None
    assert _rules("") == ()
    assert _rules("*.example.org=5/h")[0] == HostRule("example.org", 5 / 3600, "5/h")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("youtube.com=2", "is not HOST=N/UNIT"),
        ("youtube.com=2/fortnight", "is not HOST=N/UNIT"),
        ("youtube.com=0/s", "above 0"),
        ("a.com=1/s;a.com=2/s", "twice"),
        ("https://a.com/=1/s", "is not HOST=N/UNIT"),
    ],
)
def test_a_bad_rate_limits_setting_is_refused_with_its_reason(text: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        NetworkGuardSettings(rate_limits=text)
    with pytest.raises(ValueError, match=why):
        parse_host_rules(text)


async def test_turns_are_spaced_by_the_rate_and_a_booked_turn_is_kept_not_taken_twice(
    unrun_redis: Redis,
) -> None:
    gcra, rate = Gcra(unrun_redis), Rate(per_s=1.0)  # a turn a second
    state, booking = keys.host_rate("example.test"), keys.host_turns("example.test")

    async def turn(member: str, hold_over: float = 0.1) -> float:
        return await gcra.turn(state, booking, member, rate, hold_over=hold_over)

    began = time.monotonic()
    assert await turn("a") == 0.0
    first_b = await turn("b")
    assert 1.0 - (time.monotonic() - began) <= first_b <= 1.0  # booked: b comes back for it
    assert await unrun_redis.zscore(booking, "b") is not None
    assert 0 < await turn("b") <= first_b  # answered from the booking, not a second turn
    in_place = await turn("c", hold_over=5)  # a wait it sits out where it is: nothing booked
    assert 2.0 - (time.monotonic() - began) <= in_place <= 2.0
    assert await unrun_redis.zscore(booking, "c") is None
    await asyncio.sleep(max(0.0, first_b - (time.monotonic() - began)) + 0.05)
    assert await turn("b") == 0.0  # its turn came: the booking is used up
    assert await unrun_redis.zscore(booking, "b") is None


async def test_a_caller_back_long_after_its_booked_turn_takes_a_new_one(unrun_redis: Redis) -> None:
    """Jobs back late (every slot was busy) must not all start at once on their stale turns."""
    gcra, rate = Gcra(unrun_redis), Rate(per_s=10.0)
    state, booking = keys.host_rate("late.test"), keys.host_turns("late.test")
    # a turn booked 5 s ago, long passed; the limiter's next free turn is now
    await unrun_redis.zadd(booking, {"late": time.time() - 5})
    assert await gcra.turn(state, booking, "late", rate, hold_over=0.05) == 0.0  # a new turn, at once
    assert await unrun_redis.zscore(booking, "late") is None
    other = await gcra.turn(state, booking, "other", rate, hold_over=5)
    assert 0.05 < other <= 0.1  # the new turn counted: the next caller waits for its own


def _first_requests(server: MediaServer, tag: str, count: int) -> list[float]:
    firsts = []
    for n in range(count):
        times = [r.at for r in server.requests_for(f"rl={tag}&n={n}")]
        assert times, f"no request for item {n}"
        firsts.append(min(times))
    return sorted(firsts)


async def test_downloads_on_two_replicas_take_turns_at_one_host_and_far_turns_wait_without_a_slot(
    cluster: Cluster, media_server: MediaServer
) -> None:
    count, interval = 5, 1.0
    for _ in range(2):
        cluster.start("downloader", RATE_LIMITS="127.0.0.1=1/s")
    tag = uuid.uuid4().hex[:12]
    async with JobClient(cluster.settings) as client:
        created = await client.submit_many(
            [
                {"job_type": "video_download", "url": media_server.url(f"clip.mp4?rl={tag}&n={n}")}
                for n in range(count)
            ]
        )
        ids = [c.job.task_id for c in created]
        waiting = None
        deadline = time.monotonic() + 30
        while waiting is None and time.monotonic() < deadline:
            for job in [await client.get(task_id) for task_id in ids]:
                if job.status == JobStatus.SCHEDULED and job.progress.message.startswith(
                    "waiting for a turn"
                ):
                    waiting = job
            await asyncio.sleep(0.05)
        assert waiting is not None, cluster.logs()
        assert waiting.progress.message.startswith("waiting for a turn at 127.0.0.1 (1/s): ")
        assert waiting.next_attempt_at is not None
        assert waiting.attempts == 0  # its slot was given back and the run is not counted
        finals = [await client.wait(task_id, timeout=60) for task_id in ids]
    assert [j.status for j in finals] == [JobStatus.SUCCEEDED] * count, cluster.logs()
    assert [j.attempts for j in finals] == [1] * count  # waiting for a turn is no attempt
    assert all(len(j.attempt_log) == 1 for j in finals)
    assert "deferred job=" in cluster.logs()
    starts = _first_requests(media_server, tag, count)
    # one turn a second across both processes: without the limit all five start within a fraction of it
    assert starts[-1] - starts[0] >= (count - 1) * interval - 1.0, starts
    assert all(sum(1 for t in starts if s <= t < s + interval) <= 2 for s in starts), starts


async def test_a_bulk_enrichment_looks_items_up_at_the_hosts_pace_and_cached_ones_take_no_turn(
    cluster: Cluster, media_server: MediaServer
) -> None:
    cluster.start("metadata", RATE_LIMITS="127.0.0.1=2/s")
    tag = uuid.uuid4().hex[:12]
    urls = [media_server.url(f"clip.mp4?rl={tag}&n={n}") for n in range(4)]
    async with JobClient(cluster.settings) as client:
        created = await client.submit({"job_type": "metadata_enrich", "items": urls, "concurrency": 4})
        job = await client.wait(created.job.task_id, timeout=60)
        assert job.status == JobStatus.SUCCEEDED, (job.error, cluster.logs())
        assert job.result is not None
        assert job.result["succeeded"] == 4
        assert job.attempts == 1  # items wait in place: a bulk job never leaves its slot half done
        starts = _first_requests(media_server, tag, 4)
        # four lookups at once, spaced half a second apart by the limit
        assert starts[-1] - starts[0] >= 3 * 0.5 - 0.5, starts
        assert all(sum(1 for t in starts if s <= t < s + 0.5) <= 2 for s in starts), starts
        seen = len(media_server.requests)
        again = await client.submit({"job_type": "video_info", "url": urls[0]})
        cached = await client.wait(again.job.task_id, timeout=30)
    assert cached.status == JobStatus.SUCCEEDED
    assert cached.progress.message == "from cache"
    assert len(media_server.requests) == seen  # a cache hit fetches nothing and takes no turn
