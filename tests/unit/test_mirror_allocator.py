"""The owner's allocator when Redis fails a move (`scaleout.mirror`): the engine's books
move anyway and the launch is marked for a rebuild from the record, instead of the
expiry, payment or refund failing half-way (Redis first, the books never)."""

from __future__ import annotations

from typing import Any

import redis

from soldout.domain.claims import ClaimState
from soldout.scaleout.mirror import MirrorAllocator
from tests.unit.test_allocator import LAUNCH, claim_of, in_process


class _Unreachable:
    """A sync Redis client whose every script call fails as a cut connection does."""

    def register_script(self, text: str) -> Any:
        def call(keys: list[str], args: list[Any]) -> Any:
            raise redis.ConnectionError("Redis is out of reach")

        return call


def test_a_move_redis_cannot_make_moves_the_books_and_marks_the_launch_stale() -> None:
    books = in_process({"A": 2})._books  # type: ignore[attr-defined]
    mirror = MirrorAllocator(books, _Unreachable())  # type: ignore[arg-type]
    held = claim_of("ann")
    mirror.restore(held)  # a claim a worker took, adopted by the owner
    assert books[LAUNCH].stock["A"].held == 1
    mirror.release(held, ClaimState.EXPIRED)  # does not raise
    assert books[LAUNCH].stock["A"].held == 0
    assert mirror.stale == {LAUNCH}
