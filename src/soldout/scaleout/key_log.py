"""A worker's copy of each launch's key log: which (fan, Idempotency-Key) pairs may have a
claim there, so that a refusal kept in memory (sold out, not open) is answered without
Redis for a key that has none.

Redis appends 16 hex digits of each new replay field's SHA-1 to the launch's `keylog`, in
the same script that writes the field (`TAKE`, `RESTORE_CLAIMS`). A copy read *after*
Redis gave a refusal holds every key that had a claim at that moment: a key missing from
it had no claim for the refusal to hide, and is refused from memory; a key in it (its
claim, or a 64-bit collision) is looked up in the replay index, as every key was before.
A copy is read from where it left off (one GETRANGE), and whole again when the log's
generation changed (the launch was loaded again: Redis restarted, was rebuilt, failed
over). A launch loaded before it kept a log has no generation: its copy is never used.

    logs = KeyLogs(client)
    copy = await logs.read(allocator)        # None: Redis out of reach, or no log
    if copy is not None and not copy.may_have(fan_id, key): ...  # no claim under this key
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Any

from soldout.scaleout.redis_allocator import Client, RedisAllocator
from soldout.scaleout.redis_values import replay_field

__all__ = ["DIGITS", "READ", "KeyLog", "KeyLogs", "digest"]

DIGITS = 16  # hex digits of SHA-1 kept per key: 64 bits
# KEYS: the launch's (`redis_prelude.KEYS`); ARGV: the generation the copy has, its length.
# Reply: the log's generation ("" for none) and what the copy lacks (all of it when the
# generation is not the copy's).
READ = """
local gen = redis.call('HGET', KEYS[1], 'log')
if not gen then return {'', ''} end
if gen ~= ARGV[1] then return {gen, redis.call('GETRANGE', KEYS[11], 0, -1)} end
return {gen, redis.call('GETRANGE', KEYS[11], ARGV[2], -1)}
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
        self.read_at = float("-inf")  # when it was last read whole up to then (monotonic)
        self._digests: set[int] = set()

    def may_have(self, fan_id: str, key: str) -> bool:
        """False only if no claim had this key when the copy was last read."""
        return digest(fan_id, key) in self._digests

    def take(self, generation: str, tail: str, at: float) -> None:
        """What a read answered, at monotonic time `at`."""
        if generation != self.generation:
            self.generation, self.length = generation, 0
            self._digests.clear()
        end = len(tail) - len(tail) % DIGITS  # (an entry is appended whole: always all)
        self._digests.update(int(tail[i : i + DIGITS], 16) for i in range(0, end, DIGITS))
        self.length += end
        self.read_at = at

    def __len__(self) -> int:
        return len(self._digests)


class KeyLogs:
    """This worker's copies, by launch."""

    def __init__(self, client: Client) -> None:
        self._script = client.register_script(READ)
        self._logs: dict[str, KeyLog] = {}

    async def read(self, allocator: RedisAllocator) -> KeyLog | None:
        """The launch's copy, brought up to date now; None if the launch keeps no log or
        Redis did not answer (then nothing is answered from the copy)."""
        log = self._logs.setdefault(allocator.launch_id, KeyLog())
        at = time.monotonic()
        with contextlib.suppress(Exception):
            generation, tail = await self._script(
                keys=allocator.keys, args=[log.generation, log.length]
            )
            if not generation:
                return None
            log.take(_text(generation), _text(tail), at)
            return log
        return None

    async def recent(self, allocator: RedisAllocator, within: float) -> KeyLog | None:
        """The copy if it was read in the last `within` seconds, else read now."""
        log = self._logs.get(allocator.launch_id)
        if log is not None and log.generation and time.monotonic() - log.read_at < within:
            return log
        return await self.read(allocator)
