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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from soldout.scaleout.mirror import SyncClient

__all__ = ["TOLD", "RedisRoomJournal", "room_key"]

log = logging.getLogger(__name__)

KEEP_SECONDS = 7 * 24 * 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def room_key(prefix: str, launch_id: str) -> str:
    return f"{prefix}:room:{launch_id}"


class RedisRoomJournal:
    """The owner's side of `services.gate.RoomJournal`, one Redis hash per launch: a field
    `FAN@MICROS` per place taken (MICROS: when, since the epoch), deleted when the place is
    skipped, and `~told`: how many of the room's admissions were told."""

    def __init__(self, client: SyncClient, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def joined(self, launch_id: str, fan_id: str, at: datetime) -> None:
        self._write(launch_id, "a place", lambda pipe, key: pipe.hset(key, _field(fan_id, at), ""))

    def skipped(self, launch_id: str, fan_id: str, joined_at: datetime) -> None:
        self._write(
            launch_id, "a skip", lambda pipe, key: pipe.hdel(key, _field(fan_id, joined_at))
        )

    def told(self, launch_id: str, admissions: int) -> None:
        self._write(launch_id, "a notice", lambda pipe, key: pipe.hset(key, TOLD, str(admissions)))

    def _write(self, launch_id: str, what: str, change: Callable[[Any, str], object]) -> None:
        key = room_key(self._prefix, launch_id)
        try:
            pipe = self._client.pipeline(transaction=False)
            change(pipe, key)
            pipe.expire(key, KEEP_SECONDS)
            pipe.execute()
        except Exception as exc:
            log.error("%s in the waiting room of %s was not written: %s", what, launch_id, exc)

    def places(self, launch_id: str) -> tuple[list[tuple[str, datetime]], int]:
        try:
            raw = dict(self._client.hgetall(room_key(self._prefix, launch_id)))
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
