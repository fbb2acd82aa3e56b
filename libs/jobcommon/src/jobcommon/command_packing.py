"""Redis commands packed by hiredis's C packer on every job-data connection (ours and FastStream's broker).

redis-py's asyncio connections build each command's wire bytes in Python (`pack_command`: one encode and a
few byte joins per argument), even where hiredis is installed, whose `pack_command` redis-py's sync client
uses for the same job. The job scripts take many arguments (creating a job sends ~30), so that was ~30 µs of
Python per call against ~3 µs in hiredis, on every submission and on every job's start and end.

The connection classes here are redis-py's own with only `pack_command` replaced: hiredis packs, giving the
same bytes on the wire (`tests/test_command_packing.py` compares them); whatever hiredis does not take (a
bool or None, which redis-py refuses with DataError; an IntEnum, which it sends as its repr) and any
connection whose text is not strict UTF-8 (another encoding, lenient `encoding_errors`) is packed by
redis-py as before. (The liveness probe, the health check and the sync helpers keep redis-py's plain
connections: they send a few short commands.)
"""

from __future__ import annotations

import codecs
import functools
from typing import Any
from urllib.parse import urlparse

import hiredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)


@functools.cache
def _strict_utf8(encoding: str, errors: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8" and errors == "strict"


class _HiredisPacking(AbstractConnection):
    def pack_command(self, *args: Any) -> list[bytes]:
        if not _strict_utf8(self.encoder.encoding, self.encoder.encoding_errors):
            return super().pack_command(*args)
        first = args[0]
        if isinstance(first, str):  # a command name with literal arguments ("CONFIG GET") goes as words
            words = (*first.encode().split(), *args[1:])
        elif b" " in first:
            words = (*first.split(), *args[1:])
        else:
            words = args
        # hiredis's stub types its argument as a 1-tuple; it takes a tuple of any length
        packable: Any = tuple(bytes(arg) if isinstance(arg, bytearray | memoryview) else arg for arg in words)
        try:
            return [hiredis.pack_command(packable)]
        except TypeError:  # not a type hiredis packs: redis-py's own packing decides (DataError or repr)
            return super().pack_command(*args)


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
