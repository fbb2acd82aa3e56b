"""API keys: who calls the gateway, on whose behalf (the owner of the jobs), and with which role.

A key is 32 random bytes (`mj_` + URL-safe base64, 256 bits), shown once when created and stored only as its
sha256 digest: a Redis hash `mj:apikey:<digest>` (name, owner, role, created_at) plus the index `mj:apikeys`
(key id -> digest). The key id, the digest's first 16 hex digits, names a key in listings and revocations.
Lookups are cached in each gateway process for at most `cache_ttl_s` (1 s), so a revoked key stops working
on every replica within that second. Keys can also be provisioned from a JSON file (`API_KEYS_FILE`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel, Field, field_validator, model_validator

from jobcommon import keys, utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from jobcommon import Job

log = logging.getLogger("mediajobs.gateway")

OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
KEY_PREFIX = "mj_"


class Role(StrEnum):
    """What a key may do: `read` its owner's jobs; also `submit`, cancel and retry them; `admin`: anything,
    for every owner (dead letters, health details, key management)."""

    READ = "read"
    SUBMIT = "submit"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return (Role.READ, Role.SUBMIT, Role.ADMIN).index(self)


class ApiKey(BaseModel):
    """A key as listed (never the key itself)."""

    id: str
    name: str = Field(min_length=1, max_length=100)
    owner: str
    role: Role
    created_at: datetime

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        if not OWNER.match(value):
            raise ValueError("an owner is 1-64 letters, digits, '_', '.', '@' or '-', starting alphanumeric")
        return value

    def allows(self, role: Role) -> bool:
        return self.role.rank >= role.rank

    def sees(self, job: Job) -> bool:
        """Admins see every job; other keys only their owner's."""
        return self.role == Role.ADMIN or job.owner == self.owner


class ProvisionedKey(BaseModel):
    """One entry of `API_KEYS_FILE`: the key itself or its sha256 digest (hex)."""

    name: str = Field(min_length=1, max_length=100)
    owner: str
    role: Role
    key: str | None = Field(default=None, min_length=20)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _one_secret(self) -> ProvisionedKey:
        if (self.key is None) == (self.sha256 is None):
            raise ValueError("give exactly one of `key` and `sha256`")
        return self

    @property
    def digest(self) -> str:
        return self.sha256 or digest(cast("str", self.key))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def read_keys_file(path: Path) -> list[ProvisionedKey]:
    """`API_KEYS_FILE`: a JSON list of {name, owner, role, key | sha256}."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [ProvisionedKey.model_validate(entry) for entry in entries]


class KeyStore:
    def __init__(self, redis: Redis, *, cache_ttl_s: float = 1.0) -> None:
        self.redis = redis
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._live: dict[str, tuple[float, bool]] = {}

    async def create(self, name: str, owner: str, role: Role) -> tuple[ApiKey, str]:
        """A new key; the secret is returned here and never again."""
        secret = new_secret()
        return await self.add(name, owner, role, digest(secret)), secret

    async def add(self, name: str, owner: str, role: Role, key_digest: str) -> ApiKey:
        key = ApiKey(id=key_digest[:16], name=name, owner=owner, role=role, created_at=utcnow())
        async with self.redis.pipeline(transaction=True) as pipe:
            fields: dict[str | bytes, str] = {
                name: str(value) for name, value in key.model_dump(mode="json").items()
            }
            pipe.hset(keys.api_key(key_digest), mapping=fields)  # type: ignore[arg-type]
            pipe.hset(keys.API_KEYS, key.id, key_digest)
            await pipe.execute()
        return key

    async def provision(self, entries: list[ProvisionedKey]) -> None:
        """Add the keys of `API_KEYS_FILE` (those already there keep their creation time; a revoked one stays
        revoked: take it out of the file, and put a new key in)."""
        for entry in entries:
            if await self.redis.sismember(keys.REVOKED_API_KEYS, entry.digest):
                log.warning("API_KEYS_FILE: the key %r was revoked; it is not provisioned again", entry.name)
                continue
            if not await self.redis.exists(keys.api_key(entry.digest)):
                await self.add(entry.name, entry.owner, entry.role, entry.digest)

    async def lookup(self, secret: str) -> ApiKey | None:
        """The key `secret` is, or None (unknown or revoked); cached for `cache_ttl_s`."""
        key_digest = digest(secret)
        now = time.monotonic()
        cached = self._cache.get(key_digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        fields = cast("dict[str, str]", await self.redis.hgetall(keys.api_key(key_digest)))
        found = ApiKey.model_validate(fields) if fields else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_digest] = (now + self.cache_ttl_s, found)
        return found

    async def list(self) -> list[ApiKey]:
        digests = cast("dict[str, str]", await self.redis.hgetall(keys.API_KEYS))
        found = []
        for key_digest in digests.values():
            fields = cast("dict[str, str]", await self.redis.hgetall(keys.api_key(key_digest)))
            if fields:
                found.append(ApiKey.model_validate(fields))
        return sorted(found, key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> bool:
        key_digest = cast("str | None", await self.redis.hget(keys.API_KEYS, key_id))
        if key_digest is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.api_key(key_digest))
            pipe.hdel(keys.API_KEYS, key_id)
            pipe.sadd(keys.REVOKED_API_KEYS, key_digest)
            await pipe.execute()
        self._cache.pop(key_digest, None)
        self._live.pop(key_id, None)
        return True

    async def still_valid(self, key: ApiKey) -> bool:
        """Whether `key` (found earlier) has not been revoked since; cached for `cache_ttl_s`. For what
        outlives the request that looked the key up: an open event stream."""
        now = time.monotonic()
        cached = self._live.get(key.id)
        if cached is not None and cached[0] > now:
            return cached[1]
        valid = bool(await self.redis.hexists(keys.API_KEYS, key.id))
        if len(self._live) > 10_000:
            self._live.clear()
        self._live[key.id] = (now + self.cache_ttl_s, valid)
        return valid
