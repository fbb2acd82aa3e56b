"""Redis commands packed by hiredis's C packer on every mediajobs connection.

redis-py's asyncio connections build each command's wire bytes in Python (`pack_command`: one encode and a
few byte joins per argument), even where hiredis is installed, whose `pack_command` redis-py's sync client
uses for the same job. The job scripts take many arguments (creating a job sends ~30), so that was ~30 µs of
Python per call against ~3 µs in hiredis, on every submission and on every job's start and end.

The connection classes here are redis-py's own with only `pack_command` replaced by the sync client's
hiredis path: the same bytes on the wire (`tests/test_redis_hygiene.py` compares them), the same `DataError`
for an argument Redis cannot take. A connection whose encoding is not UTF-8 (hiredis encodes text as UTF-8)
keeps redis-py's packing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import hiredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import DataError


class _HiredisPacking(AbstractConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        if self.encoder.encoding.lower().replace("-", "") != "utf8":
            return super().pack_command(*args)
        first = args[0]
        if isinstance(first, str):  # a command name with literal arguments ("CONFIG GET") goes as words
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        # hiredis's stub types its argument as a 1-tuple; it takes a tuple of any length
        packable: Any = tuple(bytes(arg) if isinstance(arg, bytearray | memoryview) else arg for arg in args)
        try:
            return [hiredis.pack_command(packable)]
        except TypeError as exc:  # what redis-py's encoder says of a bool, None or any other type
            raise DataError(str(exc)) from exc


class PackedConnection(_HiredisPacking, Connection):
    """redis-py's TCP connection (`redis://`), commands packed by hiredis."""


class PackedSSLConnection(_HiredisPacking, SSLConnection):
    """redis-py's TLS connection (`rediss://`), commands packed by hiredis."""


class PackedUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    """redis-py's Unix-socket connection (`unix://`), commands packed by hiredis."""


_BY_SCHEME: dict[str, type[AbstractConnection]] = {
    "redis": PackedConnection,
    "rediss": PackedSSLConnection,
    "unix": PackedUnixConnection,
}


def connection_class(redis_url: str) -> type[AbstractConnection]:
    """The connection class for `redis_url`'s scheme: the one redis-py would pick, packed by hiredis (a URL
    of any other scheme is refused by redis-py's own URL parsing, with its own message)."""
    return _BY_SCHEME.get(urlparse(redis_url).scheme, PackedConnection)
