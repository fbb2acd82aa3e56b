"""Every mediajobs Redis connection packs commands with hiredis: the same bytes as redis-py's own packing."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from faststream.redis import RedisBroker
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from jobcommon.command_packing import (
    PackedConnection,
    PackedSSLConnection,
    PackedUnixConnection,
    connection_class,
)
from jobcommon.connection import connect, resilience
from jobcommon.settings import CommonSettings

COMMANDS: list[tuple[Any, ...]] = [
    ("SET", "k", "v"),
    ("EVALSHA", "a" * 40, 3, "mj:job:1", "mj:queue", "mj:jobs:index", "x" * 70_000, 1.5, -3, 2**70),
    ("HSET", "k", "titre", "Café ☕ – 日本語", "raw", b"\x00\xff\r\n$*", "n", 0.1),
    ("SET", "k", memoryview(b"view"), "other", bytearray(b"array")),
    ("CONFIG GET", "maxmemory"),  # a command name holding literal arguments
    (b"CLIENT SETNAME", b"mediajobs"),
    ("SET", "k", ""),
]


@pytest.mark.parametrize("args", COMMANDS)
def test_commands_are_packed_as_redis_py_packs_them(args: tuple[Any, ...]) -> None:
    ours = b"".join(PackedConnection().pack_command(*args))
    assert ours == b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize("value", [True, None, object(), ["a"]])
def test_an_argument_redis_cannot_take_is_a_data_error_as_in_redis_py(value: Any) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", value)
    with pytest.raises(DataError):
        PackedConnection().pack_command("SET", "k", value)


class Level(IntEnum):
    HIGH = 3


def test_what_hiredis_does_not_take_is_packed_by_redis_py() -> None:
    """An IntEnum (redis-py sends its repr) and text under lenient encoding errors."""
    args = ("SET", "k", Level.HIGH)
    assert PackedConnection().pack_command(*args) == Connection().pack_command(*args)
    lenient = ("SET", "k", "a\udcff")  # a lone surrogate: strict UTF-8 refuses it
    assert PackedConnection(encoding_errors="surrogateescape").pack_command(*lenient) == Connection(
        encoding_errors="surrogateescape"
    ).pack_command(*lenient)


def test_a_connection_with_another_encoding_keeps_redis_py_packing() -> None:
    args = ("SET", "k", "Café")
    latin = b"".join(PackedConnection(encoding="latin-1").pack_command(*args))
    assert latin == b"".join(Connection(encoding="latin-1").pack_command(*args))
    assert b"Caf\xe9" in latin


@pytest.mark.parametrize(
    ("url", "plain", "packed"),
    [
        ("redis://127.0.0.1:6379/0", Connection, PackedConnection),
        ("rediss://cache.example:6380/1", SSLConnection, PackedSSLConnection),
        ("unix:///run/redis.sock?db=2", UnixDomainSocketConnection, PackedUnixConnection),
    ],
)
def test_every_client_uses_the_packed_class_redis_py_would_pick_for_the_url(
    url: str, plain: type[Connection], packed: type[Connection], tmp_path: Path
) -> None:
    assert connection_class(url) is packed
    assert issubclass(packed, plain)
    settings = CommonSettings(redis_url=url, media_root=tmp_path)
    pool = connect(settings).connection_pool
    assert pool.connection_class is packed
    # the broker make_broker builds (without its process-wide tracing set-up)
    broker_options = RedisBroker(url, **resilience(settings)).config.connection._options
    assert broker_options["connection_class"] is packed
    for options in (pool.connection_kwargs, broker_options):  # what the URL says is kept
        if url.startswith("unix"):
            assert (options["path"], options["db"]) == ("/run/redis.sock", 2)
        else:
            assert options["host"] == url.split("//")[1].split(":", maxsplit=1)[0]


def test_the_urls_own_options_still_win_in_our_pool(tmp_path: Path) -> None:
    """As with redis-py's `from_url`: only the connection class is ours whatever the URL says."""
    url = "unix:///run/redis.sock?db=3&socket_timeout=7&health_check_interval=5"
    pool = connect(CommonSettings(redis_url=url, media_root=tmp_path)).connection_pool
    options = pool.connection_kwargs
    assert (options["db"], options["socket_timeout"], options["health_check_interval"]) == (3, 7.0, 5)
    assert pool.connection_class is PackedUnixConnection


async def test_values_round_trip_through_a_real_redis(settings: CommonSettings) -> None:
    redis = connect(settings)
    try:
        text = "Café ☕ – 日本語 " + "x" * 100_000
        await redis.hset("test:packing", mapping={"text": text, "n": 1.25, "i": 2**60})
        assert await redis.hgetall("test:packing") == {"text": text, "n": "1.25", "i": str(2**60)}
        assert await redis.eval("return ARGV[1] .. #ARGV", 0, "é", 1, 2.5) == "é3"
    finally:
        await redis.delete("test:packing")
        await redis.aclose()
