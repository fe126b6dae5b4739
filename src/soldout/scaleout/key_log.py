"""A worker's copy of each launch's key log: which (fan, Idempotency-Key) pairs may have a
claim there, so that a refusal kept in memory (sold out, not open) is answered without
Redis for a key that has none.

Redis appends 16 hex digits of each new replay field's SHA-1 to the launch's `keylog`, in
the same script that writes the field (`TAKE`, `RESTORE_CLAIMS`). A copy read *after*
Redis gave a refusal holds every key that had a claim at that moment: a key missing from
it had no claim for the refusal to hide, and is refused from memory; a key in it (its
claim, or a 64-bit collision) is looked up in the replay index, as every key was before.
A copy is read from where it left off (one GETRANGE), one read at a time per launch
(the lock; a claim whose refusal came before the last read was sent uses that read), and
whole again when the log's generation changed (the launch was loaded again: Redis
restarted, was rebuilt, failed over) or is shorter than the copy (a replica that missed
the last writes). A launch being loaded (not ready), or loaded before it kept a log (no
generation): its copy is not used.

    logs = KeyLogs(client)
    copy = await logs.read(allocator, after)  # None: Redis out of reach, or no log
    if copy is not None and not copy.may_have(fan_id, key): ...  # no claim under this key
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

from soldout.scaleout.redis_allocator import Client, RedisAllocator
from soldout.scaleout.redis_values import replay_field

__all__ = ["DIGITS", "READ", "KeyLog", "KeyLogs", "digest"]

DIGITS = 16  # hex digits of SHA-1 kept per key: 64 bits
IDLE_SECONDS = 600.0  # a copy not read for this long is dropped (a launch that closed)
# KEYS: the launch's (`redis_prelude.KEYS`); ARGV: the generation the copy has, its length.
# Reply: the log's generation ("" for none, or while the launch is not ready), where the
# tail starts (0: the whole log, for a new generation or a log shorter than the copy),
# the tail.
READ = """
local gen = redis.call('HGET', KEYS[1], 'log')
if not gen or redis.call('HGET', KEYS[1], 'ready') ~= '1' then return {'', 0, ''} end
local from = tonumber(ARGV[2])
if gen ~= ARGV[1] or redis.call('STRLEN', KEYS[11]) < from then from = 0 end
return {gen, from, redis.call('GETRANGE', KEYS[11], from, -1)}
"""


def digest(fan_id: str, key: str) -> int:
    """The log's entry for (fan, key), as a number: the first 64 bits of the SHA-1 of its
    replay field (the script's `redis.sha1hex`, first 16 digits)."""
    field = replay_field(fan_id, key).encode()
    return int.from_bytes(hashlib.sha1(field, usedforsecurity=False).digest()[:8], "big")


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


class KeyLog:
    """One launch's copy: grows as it is read; starts again at a new generation."""

    def __init__(self) -> None:
        self.generation = ""
        self.length = 0  # characters of the log copied
        self.sent_at = float("-inf")  # when the read it was last brought up to was sent
        self.lock = asyncio.Lock()  # one read at a time
        self._digests: set[int] = set()

    def may_have(self, fan_id: str, key: str) -> bool:
        """False only if no claim had this key when the copy's last read was sent."""
        return digest(fan_id, key) in self._digests

    def take(self, generation: str, start: int, tail: str, sent_at: float) -> None:
        """What a read sent at monotonic `sent_at` answered: the log from `start`."""
        if generation != self.generation or start != self.length:  # (then `start` is 0)
            self.generation, self.length = generation, 0
            self._digests.clear()
        end = len(tail) - len(tail) % DIGITS  # (an entry is appended whole: always all)
        self._digests.update(int(tail[i : i + DIGITS], 16) for i in range(0, end, DIGITS))
        self.length += end
        self.sent_at = sent_at

    def __len__(self) -> int:
        return len(self._digests)


class KeyLogs:
    """This worker's copies, by launch."""

    def __init__(self, client: Client) -> None:
        self._script = client.register_script(READ)
        self._logs: dict[str, KeyLog] = {}
        self._pruned = time.monotonic()

    async def read(self, allocator: RedisAllocator, after: float) -> KeyLog | None:
        """The launch's copy, brought up to date by a read sent at or after monotonic
        `after` (a refusal's arrival: then the copy holds every key with a claim before
        it); None if the launch keeps no log, is not ready, or Redis did not answer."""
        if time.monotonic() - self._pruned > IDLE_SECONDS / 10:
            self.prune(time.monotonic() - IDLE_SECONDS)
        log = self._logs.setdefault(allocator.launch_id, KeyLog())
        async with log.lock:
            if log.generation and log.sent_at >= after:
                return log
            sent_at = time.monotonic()
            try:
                generation, start, tail = await self._script(
                    keys=allocator.keys, args=[log.generation, log.length]
                )
            except Exception:
                return None
            if not generation:
                return None
            log.take(_text(generation), int(start), _text(tail), sent_at)
            return log

    async def recent(self, allocator: RedisAllocator, within: float) -> KeyLog | None:
        """The copy if its last read was sent in the last `within` seconds, else read."""
        return await self.read(allocator, time.monotonic() - within)

    def prune(self, before: float) -> None:
        """Drop the copies last read before monotonic `before` (launches no longer sold:
        their copies would otherwise stay until this worker stops)."""
        self._pruned = time.monotonic()
        for launch_id, log in list(self._logs.items()):
            if log.sent_at < before and not log.lock.locked():
                del self._logs[launch_id]

    def drop(self, launch_id: str | None = None) -> None:
        """Forget the copy of a launch (None: of every launch); read whole next time."""
        if launch_id is None:
            self._logs.clear()
        else:
            self._logs.pop(launch_id, None)
