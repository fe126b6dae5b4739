"""The waiting rooms' places in Redis, so that a new owner gives everyone their place back.

A launch's waiting room is one owner's (`services.gate`, `engine.waiting_room`): the
workers forward joins and polls to it, and check the admissions it signs themselves. Its
places were in that process's memory only: an owner SIGKILLed took the queue with it, and
the standby that took over opened an empty room. Now the owner writes each new place to a
Redis hash per launch (`room:LAUNCH` after the deployment's prefix: fan -> when they took
it, in microseconds since the epoch) before the join is answered, and a room opened by a
new owner is rebuilt from it (`WaitingRoom.restore`): the early crowd drawn again by the
same seeded HMAC (the same order), later arrivals in the order they came, each counted as
seen at the take-over, so the outage makes no one lose a turn.

What it does not keep: who the old owner saw leave (a fan it would have skipped for not
polling is let in again after a take-over) and its admissions themselves (made again at
the same instants, not told again by e-mail; their tokens are signed, so those given out
stay good). Redis out of reach at a join: the place lives in this owner's memory only
(logged). The hash expires a week after its last join.

Every join reaches the owner, so its write must not hold the owner's event loop: the
changes made while a write is in flight are queued and sent together as one pipeline
(one round trip, as a group commit), on the asynchronous client. A join is answered once
the pipeline holding its place returned; a skip or a notice, made inside a poll, is
queued and not waited for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from soldout.scaleout.mirror import SyncClient
from soldout.scaleout.redis_allocator import Client

__all__ = ["TOLD", "RedisRoomJournal", "room_key"]

log = logging.getLogger(__name__)

KEEP_SECONDS = 7 * 24 * 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# (launch, what it is for the log, the change on a pipeline and the key, its join's future)
_Change = tuple[str, str, Callable[[Any, str], object], "asyncio.Future[None] | None"]


def room_key(prefix: str, launch_id: str) -> str:
    return f"{prefix}:room:{launch_id}"


class RedisRoomJournal:
    """The owner's side of `services.gate.RoomJournal`, one Redis hash per launch: a field
    `FAN@MICROS` per place taken (MICROS: when, since the epoch), deleted when the place is
    skipped, and `~told`: how many of the room's admissions were told. Writes go on
    `client` (asynchronous, batched); `reader` reads a room back when it is opened."""

    def __init__(self, client: Client, reader: SyncClient, prefix: str) -> None:
        self._client = client
        self._reader = reader
        self._prefix = prefix
        self._queue: list[_Change] = []
        self._writing: asyncio.Task[None] | None = None

    def joined(self, launch_id: str, fan_id: str, at: datetime) -> asyncio.Future[None]:
        done = asyncio.get_running_loop().create_future()
        field = _field(fan_id, at)
        self._add(launch_id, "a place", lambda pipe, key: pipe.hset(key, field, ""), done)
        return done

    def skipped(self, launch_id: str, fan_id: str, joined_at: datetime) -> None:
        field = _field(fan_id, joined_at)
        self._add(launch_id, "a skip", lambda pipe, key: pipe.hdel(key, field), None)

    def told(self, launch_id: str, admissions: int) -> None:
        value = str(admissions)
        self._add(launch_id, "a notice", lambda pipe, key: pipe.hset(key, TOLD, value), None)

    async def drain(self) -> None:
        """Every change queued until now is written (or was logged as not): at a stop."""
        while self._writing is not None:
            await asyncio.shield(self._writing)

    def _add(
        self,
        launch_id: str,
        what: str,
        change: Callable[[Any, str], object],
        done: asyncio.Future[None] | None,
    ) -> None:
        self._queue.append((launch_id, what, change, done))
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send(batch)
        finally:
            self._writing = None

    async def _send(self, batch: list[_Change]) -> None:
        keys: dict[str, None] = {}
        try:
            pipe = self._client.pipeline(transaction=False)
            for launch_id, _, change, _ in batch:
                key = room_key(self._prefix, launch_id)
                change(pipe, key)
                keys[key] = None
            for key in keys:
                pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()
        except Exception as exc:
            for launch_id, what, _, _ in batch:
                log.error("%s in the waiting room of %s was not written: %s", what, launch_id, exc)
        finally:
            for _, _, _, done in batch:  # (answered either way: the place is in memory)
                if done is not None and not done.done():
                    done.set_result(None)

    def places(self, launch_id: str) -> tuple[list[tuple[str, datetime]], int]:
        try:
            raw = dict(self._reader.hgetall(room_key(self._prefix, launch_id)))
        except Exception as exc:
            log.error("the waiting room of %s could not be read back: %s", launch_id, exc)
            return [], 0
        told, places = 0, []
        for name, value in raw.items():
            field = _text(name)
            if field == TOLD:
                told = int(value)
                continue
            fan_id, _, micros = field.rpartition("@")
            places.append((fan_id, _EPOCH + timedelta(microseconds=int(micros))))
        return places, told


TOLD = "~told"  # (no fan id holds a "~")


def _field(fan_id: str, at: datetime) -> str:
    return f"{fan_id}@{(at - _EPOCH) // timedelta(microseconds=1)}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
