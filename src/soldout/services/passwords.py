"""Admin passwords, hashed with argon2id (argon2-cffi; why this library: docs/security.md).

    passwords = Passwords()
    stored = await passwords.hash("correct horse battery")
    await passwords.verify(stored, "correct horse battery")   # -> True

A hash costs about 0.2 s of CPU and 64 MiB (RFC 9106's second recommended profile, the
library's default): it runs in a worker thread, so the sale's event loop never waits for
one. A sign-in for an e-mail without an account verifies against a dummy hash, so the
answer takes as long either way and does not tell which addresses have accounts.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["FAST_FOR_TESTS", "Passwords"]


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored` (None: no such account; still as slow)."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash("no account has this password")
            await asyncio.to_thread(self._check, self._dummy, password)
            return False
        return await asyncio.to_thread(self._check, stored, password)

    def needs_rehash(self, stored: str) -> bool:
        """The hash was made with weaker parameters than today's: rehash at sign-in."""
        return self._hasher.check_needs_rehash(stored)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


# For tests only: the same algorithm at its cheapest, so a test signs in in microseconds.
FAST_FOR_TESTS = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
