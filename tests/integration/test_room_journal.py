"""`soldout.scaleout.room_journal` against a real Redis server: the waiting room's places
are written without holding the owner's event loop, a crowd's joins together in one
round trip, and each join is answered only once its place is written (or Redis was out of
reach, which is logged and leaves the place in the owner's memory)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from soldout.scaleout.room_journal import RedisRoomJournal
from tests.redis_server import RedisSpace
from tests.support import free_port

pytest_plugins = ["tests.redis_server"]

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
async def client(redis_space: RedisSpace) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(redis_space.url)
    yield c
    await c.aclose()


@pytest.fixture
def reader(redis_space: RedisSpace) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_space.url)
    yield c
    c.close()


def watch_pipelines(
    client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch, hold: asyncio.Event | None = None
) -> tuple[list[list[str]], asyncio.Event]:
    """The commands of each pipeline the client sends, in order; with `hold`, each waits
    for it to be set before it reaches Redis. Also the event set when one is being sent."""
    sent: list[list[str]] = []
    sending = asyncio.Event()
    pipeline = client.pipeline

    def watched(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        execute = pipe.execute

        async def executed(*a: Any, **k: Any) -> Any:
            sent.append([str(command[0][0]) for command in pipe.command_stack])
            sending.set()
            if hold is not None:
                await hold.wait()
            return await execute(*a, **k)

        pipe.execute = executed
        return pipe

    monkeypatch.setattr(client, "pipeline", watched)
    return sent, sending


async def test_a_crowd_of_joins_goes_in_one_round_trip_and_comes_back_whole(
    client: aioredis.Redis,
    reader: redis.Redis,
    redis_space: RedisSpace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent, _ = watch_pipelines(client, monkeypatch)
    journal = RedisRoomJournal(client, reader, redis_space.prefix)
    joins = [(f"fan_{i}", T0 + timedelta(microseconds=i)) for i in range(200)]
    await asyncio.gather(*(journal.joined("lch_1", fan, at) for fan, at in joins))
    assert sent == [["HSET"] * 200 + ["EXPIRE"]]  # 200 places and the expiry, one pipeline
    places, told = journal.places("lch_1")
    assert sorted(places) == sorted(joins)
    assert told == 0
    # a skip and a notice, made inside a poll, are not waited for: written in turn
    journal.skipped("lch_1", "fan_3", joins[3][1])
    journal.told("lch_1", 7)
    await journal.drain()
    places, told = journal.places("lch_1")
    assert sorted(places) == sorted(j for j in joins if j[0] != "fan_3")
    assert told == 7
    assert sent[1:] == [["HDEL", "HSET", "EXPIRE"]]
    ttl = reader.ttl(f"{redis_space.prefix}:room:lch_1")
    assert 6 * 24 * 3600 < ttl <= 7 * 24 * 3600


async def test_a_join_is_answered_only_once_its_place_is_written(
    client: aioredis.Redis,
    reader: redis.Redis,
    redis_space: RedisSpace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal = RedisRoomJournal(client, reader, redis_space.prefix)
    release = asyncio.Event()
    sent, sending = watch_pipelines(client, monkeypatch, hold=release)
    first = journal.joined("lch_1", "fan_1", T0)
    await sending.wait()  # its pipeline is at Redis's door
    second = journal.joined("lch_1", "fan_2", T0 + timedelta(seconds=1))
    third = journal.joined("lch_1", "fan_3", T0 + timedelta(seconds=2))
    journal.skipped("lch_1", "fan_2", T0 + timedelta(seconds=1))
    journal.joined("lch_1", "fan_2", T0 + timedelta(seconds=3))  # (back: a new place)
    assert not first.done()
    assert journal.pending("lch_1", "fan_1") is first
    assert reader.hgetall(f"{redis_space.prefix}:room:lch_1") == {}
    assert sent == [["HSET", "EXPIRE"]]  # the others wait for the next round trip
    # a room opened anew meanwhile (its opening moved) reads back what is not written yet
    assert sorted(journal.places("lch_1")[0]) == [
        ("fan_1", T0),
        ("fan_2", T0 + timedelta(seconds=3)),
        ("fan_3", T0 + timedelta(seconds=2)),
    ]
    release.set()
    await first
    assert "fan_1" in [fan for fan, _ in journal.places("lch_1")[0]]
    await asyncio.gather(second, third)
    await journal.drain()
    assert journal.pending("lch_1", "fan_1") is None
    stored = reader.hgetall(f"{redis_space.prefix}:room:lch_1")
    assert sorted(field.decode().split("@")[0] for field in stored) == ["fan_1", "fan_2", "fan_3"]
    assert sent == [["HSET", "EXPIRE"], ["HSET", "HSET", "HDEL", "HSET", "EXPIRE"]]


async def test_redis_out_of_reach_answers_the_join_and_says_so(
    reader: redis.Redis, redis_space: RedisSpace, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    journal = RedisRoomJournal(nowhere, reader, redis_space.prefix)
    with caplog.at_level(logging.ERROR, logger="soldout.scaleout.room_journal"):
        await asyncio.wait_for(journal.joined("lch_1", "fan_1", T0), timeout=10)
        journal.told("lch_1", 1)
        await journal.drain()
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("a place in the waiting room of lch_1 was not written") for m in logged)
    assert any(
        m.startswith("a notice in the waiting room of lch_1 was not written") for m in logged
    )
    await nowhere.aclose()
