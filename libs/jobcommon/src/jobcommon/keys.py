"""Every Redis key, stream and channel name mediajobs uses, defined once.

All names share one prefix so a deployment can share a Redis server with other applications and an operator
can find (or flush) everything mediajobs wrote with one pattern. Lua scripts receive the prefixes below as
arguments rather than spelling names themselves.
"""

from __future__ import annotations

import hashlib

from jobcommon.priorities import Priority, lane_suffix

PREFIX = "mj"

JOB_PREFIX = f"{PREFIX}:job:"
EVENTS_PREFIX = f"{PREFIX}:events:"
STREAM_PREFIX = f"{PREFIX}:queue:"
PARKED_PREFIX = f"{PREFIX}:parked:"
ALIVE_PREFIX = f"{PREFIX}:alive:"

JOB_INDEX = f"{PREFIX}:jobs:index"
"""Sorted set of task ids scored by creation time (epoch seconds); pruned as job records expire. The base
of the listing index's facets (see `index_facets`)."""

INDEX_STATUS_SEP = "#"
"""Joins a facet and a status: `<facet>#<status>` holds the facet's jobs in that status (`status_index`)."""

INDEX_META = f"{PREFIX}:jobs:index-meta"
"""Hash task id -> JSON {c: score, f: [facets], s: status, t: [tokens], x: index ttl}: which index entries a
job has, so they can be moved on a status change and removed once its record has gone."""

TOKEN_PREFIX = f"{PREFIX}:jobs:word:"
"""Prefix of the search index: `<prefix><token>` is a sorted set of task ids (by creation time) whose URL,
title or error text holds the token."""

VOCABULARY = f"{PREFIX}:jobs:words"
"""Sorted set (all scores 0, ordered by the token itself) of every indexed search token, for prefix search."""

JOB_CHANGES = f"{PREFIX}:jobs:changes"
"""Capped stream of every announced job change (field `e`: the event JSON), read by the multiplexed SSE
stream (`GET /jobs/stream`); its ids are the SSE event ids a client resumes from."""

FINISHED_COUNTS = f"{PREFIX}:stats:finished"
"""Hash queue -> jobs that ended (any outcome) on it, incremented by the ending transition; the janitor's
samples turn it into throughput."""

DELAYED = f"{PREFIX}:delayed"
"""Sorted set of task ids waiting to be retried, scored by when (epoch seconds)."""

SCHEDULES = f"{PREFIX}:schedules"
"""Hash of periodic schedules: name -> the schedule (JSON, `jobcommon.schedules.Schedule`)."""

SCHEDULE_NEXT = f"{PREFIX}:schedules:next"
"""Sorted set of the active (not paused) schedules' names, scored by their next tick (epoch seconds)."""

SCHEDULE_RUNS = f"{PREFIX}:schedules:runs"
"""Hash name -> what a schedule last did (JSON: last tick, its task id, runs and missed ticks so far)."""

DEAD_LETTERS = f"{PREFIX}:dead"
"""Stream of jobs that exhausted their attempts (task_id, queue, reason, at)."""

SERVICES_PATTERN = f"{PREFIX}:service:*"
"""SCAN pattern matching every live service instance's heartbeat key."""

JANITOR_LEADER = f"{PREFIX}:janitor:leader"
"""Lock held (with a TTL) by the one janitor replica that runs the periodic duties."""

JANITOR_REPORT = f"{PREFIX}:janitor:report"
"""The janitor's last report per duty (JSON), shown by /jobs/health."""

JANITOR_QUEUE_SAMPLES = f"{PREFIX}:janitor:queue_samples"
"""Capped list of queue-depth samples (JSON, newest first) the janitor records, for queue depth over time."""


def job(task_id: str) -> str:
    """Hash holding one job's record."""
    return JOB_PREFIX + task_id


def job_events(task_id: str) -> str:
    """Pub/sub channel on which every change of one job is announced."""
    return EVENTS_PREFIX + task_id


def stream(queue: str, priority: Priority = Priority.NORMAL) -> str:
    """Redis stream holding one queue's job messages of one priority (its lane: `jobcommon.priorities`)."""
    return STREAM_PREFIX + queue + lane_suffix(priority)


def inflight(queue: str, priority: Priority = Priority.NORMAL) -> str:
    """Hash mapping a lane's stream entries that are being run to their task ids."""
    return f"{PREFIX}:inflight:{queue}{lane_suffix(priority)}"


def parked(task_id: str) -> str:
    """Hash holding a retrying job's message (the stream entry's fields) until it is due."""
    return PARKED_PREFIX + task_id


def service(name: str, instance: str) -> str:
    """Heartbeat key of one running service instance (expires when the instance stops renewing it)."""
    return f"{PREFIX}:service:{name}:{instance}"


def owner_jobs(owner: str) -> str:
    """Sorted set of one owner's task ids by creation time (the owner's own listing index)."""
    return f"{PREFIX}:jobs:owner:{owner}"


def index_facets(owner: str | None, job_type: str, queue: str) -> list[str]:
    """Every listing-index sorted set a job belongs to (besides their `status_index`es): all jobs, by job
    type and by queue; each also per owner when the job has one."""
    scopes = [JOB_INDEX] + ([owner_jobs(owner)] if owner else [])
    dims = ("", f":type:{job_type}", f":queue:{queue}")
    return [scope + dim for scope in scopes for dim in dims]


def facet(owner: str | None, *, job_type: str | None = None, queue: str | None = None) -> str:
    """The listing-index sorted set of one scope (`owner`'s or everyone's), narrowed to a job type or else a
    queue when given."""
    scope = owner_jobs(owner) if owner else JOB_INDEX
    if job_type:
        return f"{scope}:type:{job_type}"
    return f"{scope}:queue:{queue}" if queue else scope


def status_index(facet_key: str, status: str) -> str:
    """A facet's jobs in one status (sorted set by creation time), kept by the job-state scripts."""
    return facet_key + INDEX_STATUS_SEP + status


def search_token(token: str) -> str:
    """Sorted set of the task ids whose searchable text holds `token` (lower-case), by creation time."""
    return TOKEN_PREFIX + token


def search_union(digest: str) -> str:
    """Short-lived sorted set: the union of the words a search prefix expands to (`digest` names them)."""
    return f"{PREFIX}:jobs:word-union:{digest}"


def queue_waits(queue: str) -> str:
    """Capped list of recent waits (queued to started, seconds) on one queue, for the janitor's samples."""
    return f"{PREFIX}:stats:waits:{queue}"


def queue_samples(queue: str) -> str:
    """Capped list of one queue's samples (JSON, newest first) written by the janitor (GET /admin/queues)."""
    return f"{PREFIX}:janitor:samples:{queue}"


def owner_active(owner: str) -> str:
    """Set of one owner's queued, retrying or running task ids (the per-key quota counts them)."""
    return f"{PREFIX}:active-jobs:{owner}"


def api_key(digest: str) -> str:
    """Hash describing one API key (name, owner, role), found by the sha256 of the key; never the key."""
    return f"{PREFIX}:apikey:{digest}"


API_KEYS = f"{PREFIX}:apikeys"
"""Hash of every API key: key id -> sha256 digest (for listing and revoking by id)."""
REVOKED_API_KEYS = f"{PREFIX}:apikeys:revoked"
"""Set of the sha256 digests of revoked keys: `API_KEYS_FILE` does not bring one back at the next start."""


def submit_rate(key_id: str) -> str:
    """One API key's submission rate limiter state (GCRA: the theoretical arrival time)."""
    return f"{PREFIX}:rate:{key_id}"


def host_rate(bucket: str) -> str:
    """One remote host's (or host rule's) fetch rate limiter state, shared by every fetching service (GCRA:
    the theoretical arrival time); see `jobcommon.host_limits`."""
    return f"{PREFIX}:hostrate:{bucket}"


def host_turns(bucket: str) -> str:
    """Zset of the turns booked at one host's rate limiter (member: task id, score: when its turn comes) by
    jobs that went back to wait for them."""
    return f"{PREFIX}:hostrate:{bucket}:turns"


def alive(consumer: str) -> str:
    """Liveness key of one consuming process (its stream consumer name), renewed from a thread while the
    process lives; a consumer whose key expired is dead and its deliveries are requeued."""
    return ALIVE_PREFIX + consumer


def idempotency(owner: str, key: str) -> str:
    """Maps one owner's Idempotency-Key to the task id it created and the request's fingerprint (24 h)."""
    digest = hashlib.sha256(owner.encode() + b"\x00" + key.encode()).hexdigest()
    return f"{PREFIX}:idem:{digest}"


def duplicate_guard(job_type: str, fingerprint: str, owner: str | None) -> str:
    """Held by the one queued-or-running job of `owner` doing this exact work (e.g. the same download): per
    owner, as a duplicate's answer is the live job itself, which another owner may not see."""
    return f"{PREFIX}:active:{job_type}:{_owner_part(owner)}:{fingerprint}"


def _owner_part(owner: str | None) -> str:
    """An owner in a key name: a digest (owners are free text), `-` for a job without owner."""
    return "-" if owner is None else hashlib.sha256(owner.encode()).hexdigest()[:24]


def job_items(task_id: str) -> str:
    """Hash of a bulk job's per-item results (field: item index, value: JSON), expiring with the job."""
    return f"{PREFIX}:items:{task_id}"


def info_cache(url_hash: str) -> str:
    """String (JSON) caching one URL's extracted video info; `url_hash` is the sha256 of its normalized form.

    Written with a TTL by the metadata service (`METADATA_INFO_CACHE_TTL_S`), so nothing lives forever."""
    return f"{PREFIX}:info:{url_hash}"


def music_cache(query_hash: str) -> str:
    """String (JSON) caching one MusicBrainz recording search (`music_lookup`); `query_hash` is the sha256 of
    the normalized artist and title. Written with a TTL (`METADATA_MUSIC_CACHE_TTL_S`)."""
    return f"{PREFIX}:music:{query_hash}"


def held(parent_id: str) -> str:
    """Stream of a parent's child messages not yet released onto their queue (at most N children run)."""
    return f"{PREFIX}:held:{parent_id}"


def staged(task_id: str) -> str:
    """Stream holding a follow-up job's message until its parent has succeeded: the parent's final
    transition moves it onto the follow-up's queue in the same atomic step, so no follow-up runs before its
    parent ended."""
    return f"{PREFIX}:staged:{task_id}"
