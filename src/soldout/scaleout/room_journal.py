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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from soldout.scaleout.mirror import SyncClient
from soldout.scaleout.redis_allocator import Client

__all__ = ["TOLD", "RedisRoomJournal", "room_key"]

log = logging.getLogger(__name__)

KEEP_SECONDS = 7 * 24 * 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Change:
    launch_id: str
    what: str  # for the log: "a place", "a skip", "a notice"
    field: str
    value: str | None  # None: the field is deleted
    done: asyncio.Future[None] | None  # a join's: resolved once the pipeline returned


def room_key(prefix: str, launch_id: str) -> str:
    return f"{prefix}:room:{launch_id}"


class RedisRoomJournal:
    """The owner's side of `services.gate.RoomJournal`, one Redis hash per launch: a field
    `FAN@MICROS` per place taken (MICROS: when, since the epoch), deleted when the place is
    skipped, and `~told`: how many of the room's admissions were told. Writes go on
    `client` (asynchronous, batched); `reader` reads a room back when it is opened, with
    the changes not written yet on top."""

    def __init__(self, client: Client, reader: SyncClient, prefix: str) -> None:
        self._client = client
        self._reader = reader
        self._prefix = prefix
        self._queue: list[_Change] = []
        self._sending: list[_Change] = []  # the batch at Redis now
        self._writing: asyncio.Task[None] | None = None
        self._joining: dict[tuple[str, str], asyncio.Future[None]] = {}  # places not written

    def joined(self, launch_id: str, fan_id: str, at: datetime) -> asyncio.Future[None]:
        done = asyncio.get_running_loop().create_future()
        self._joining[launch_id, fan_id] = done
        done.add_done_callback(lambda _: self._written(launch_id, fan_id, done))
        self._add(_Change(launch_id, "a place", _field(fan_id, at), "", done))
        return done

    def pending(self, launch_id: str, fan_id: str) -> asyncio.Future[None] | None:
        """The fan's place while it is not written yet (a second join waits for it)."""
        return self._joining.get((launch_id, fan_id))

    def skipped(self, launch_id: str, fan_id: str, joined_at: datetime) -> None:
        self._add(_Change(launch_id, "a skip", _field(fan_id, joined_at), None, None))

    def told(self, launch_id: str, admissions: int) -> None:
        self._add(_Change(launch_id, "a notice", TOLD, str(admissions), None))

    async def drain(self) -> None:
        """Every change queued until now is written (or was logged as not): at a stop."""
        while self._writing is not None:
            await asyncio.wait([self._writing])

    def _written(self, launch_id: str, fan_id: str, done: asyncio.Future[None]) -> None:
        if self._joining.get((launch_id, fan_id)) is done:
            del self._joining[launch_id, fan_id]

    def _add(self, change: _Change) -> None:
        self._queue.append(change)
        if self._writing is None:
            self._start()

    def _start(self) -> None:
        self._writing = asyncio.get_running_loop().create_task(self._write())
        self._writing.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        """The writer ended: changes queued since it last looked start another."""
        if self._writing is task:
            self._writing = None
            if self._queue and not task.cancelled():  # (cancelled: the loop is closing)
                self._start()

    async def _write(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            self._sending = batch
            try:
                await self._send(batch)
            finally:
                self._sending = []

    async def _send(self, batch: list[_Change]) -> None:
        keys: dict[str, None] = {}
        try:
            pipe = self._client.pipeline(transaction=False)
            for change in batch:
                key = room_key(self._prefix, change.launch_id)
                if change.value is None:
                    pipe.hdel(key, change.field)
                else:
                    pipe.hset(key, change.field, change.value)
                keys[key] = None
            for key in keys:
                pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()
        except Exception as exc:
            for change in batch:
                log.error(
                    "%s in the waiting room of %s was not written: %s",
                    change.what,
                    change.launch_id,
                    exc,
                )
        finally:
            for change in batch:  # (answered either way: the place is in this memory)
                if change.done is not None and not change.done.done():
                    change.done.set_result(None)

    def places(self, launch_id: str) -> tuple[list[tuple[str, datetime]], int]:
        try:
            got = self._reader.hgetall(room_key(self._prefix, launch_id))
        except Exception as exc:
            log.error("the waiting room of %s could not be read back: %s", launch_id, exc)
            got = {}
        raw = {_text(name): _text(value) for name, value in got.items()}
        for change in [*self._sending, *self._queue]:  # (in order; each is idempotent)
            if change.launch_id != launch_id:
                continue
            if change.value is None:
                raw.pop(change.field, None)
            else:
                raw[change.field] = change.value
        told, places = 0, []
        for field, value in raw.items():
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
