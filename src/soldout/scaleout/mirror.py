"""The owner's allocator when Redis decides: every move is made in Redis first, then
mirrored in the owner's books.

With several workers, the claims are decided in Redis (`scaleout.claims`); the owner
(`scaleout.owner`) still runs everything that follows a claim (expiry, payment, refunds,
priority codes, pages) on its engine, which moves units only through its `Allocator`.
`MirrorAllocator` is that allocator: it makes each move in Redis, atomically, where the
workers' takes see it at once, then makes it in the books the engine reads for its pages
and its statistics. Claims taken by workers enter the books as the owner adopts them
(`restore`, from the launch's `made` stream), so the books follow Redis within moments;
Redis stays the one that decides.

The calls are synchronous (`redis.Redis`, not asyncio): the engine's desks call their
allocator without awaiting, and a move is one round trip on loopback (tens of
microseconds) made by the owner alone, never on the claim path.

    allocator = MirrorAllocator(books, redis.Redis.from_url(url), prefix="soldout")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from redis import Redis
from redis.cluster import RedisCluster

from soldout.domain.claims import Claim, ClaimState
from soldout.domain.codes import PriorityCode, too_few_to_set_aside
from soldout.domain.errors import Conflict, InvalidInput
from soldout.engine.book import LaunchBook
from soldout.engine.book_allocator import BookAllocator
from soldout.scaleout import redis_scripts
from soldout.scaleout.redis_values import _EPOCH, _refusal, _texts, micros, replay_field

__all__ = ["MirrorAllocator", "SyncClient", "launch_keys"]

log = logging.getLogger(__name__)

SyncClient = Redis | RedisCluster


def launch_keys(prefix: str, launch_id: str) -> list[str]:
    return [f"{prefix}:{{{launch_id}}}:{name}" for name in redis_scripts.KEYS]


class MirrorAllocator(BookAllocator):
    """`Allocator` over Redis (deciding) and the owner's books (following)."""

    def __init__(
        self, books: Mapping[str, LaunchBook], client: SyncClient, *, prefix: str = "soldout"
    ) -> None:
        super().__init__(books)
        self.stale: set[str] = set()  # launches whose Redis counts missed a move
        self.client = client
        self.prefix = prefix
        self._take_script = client.register_script(redis_scripts.TAKE)
        self._move_script = client.register_script(redis_scripts.MOVE)
        self._aside_script = client.register_script(redis_scripts.SET_ASIDE)
        self._codes_script = client.register_script(redis_scripts.CODES)

    def _run(self, script: Any, launch_id: str, args: Sequence[str | int]) -> list[Any]:
        return _texts(script(keys=launch_keys(self.prefix, launch_id), args=list(args)))

    def _move(self, op: str, claim: Claim, state: str = "") -> None:
        """The move in Redis. Redis out of reach, or answering otherwise than the books
        expect: the books move anyway (the record is written by the engine as always),
        and the launch is `stale` until the owner rebuilds its counts from the record."""
        try:
            reply = self._run(self._move_script, claim.launch_id, [op, claim.id, state])
        except Exception as exc:
            log.error("redis %s of claim %s failed: %s", op, claim.id, exc)
            self.stale.add(claim.launch_id)
            return
        if reply[0] != "ok":
            log.error("redis %s of claim %s answered %s", op, claim.id, reply)
            self.stale.add(claim.launch_id)

    # -- the decision is made in Redis (`scaleout.claims`); a draw's here, in Redis first ----
    def take(
        self,
        launch_id: str,
        fan_id: str,
        sku: str,
        quantity: int,
        now: datetime,
        code: str | None = None,
        *,
        drawn: bool = False,
    ) -> None:
        raise Conflict(
            "with several workers, claims are decided in Redis (scaleout.claims)"
        ).with_code("not_with_workers")

    def take_drawn(self, claim: Claim, now: datetime) -> None:
        """A drawn claim (the owner's draw, a backup's unit): taken in Redis under its id
        and key, confirmed at once (the owner writes its row itself, and strikes it with
        `untake` if that fails), then in the books. Redis's refusal is raised as the
        book's. Redis out of reach: the books take it alone and the launch is `stale`
        until the owner rebuilds its counts from the record (which then holds the claim);
        a drawn launch sells nothing else meanwhile, so nothing can be oversold."""
        key = replay_field(claim.fan_id, claim.idempotency_key)
        args: list[str | int] = [micros(now), "", 1, claim.fan_id, claim.sku, claim.quantity]
        args += [claim.idempotency_key, key, claim.id, "", "1"]
        try:
            keys = launch_keys(self.prefix, claim.launch_id)
            reply = _texts(self._take_script(keys=keys, args=args)[0])
        except Exception as exc:
            log.error("redis take of drawn claim %s failed: %s", claim.id, exc)
            self.stale.add(claim.launch_id)
            reply = ["ok", claim.id]
        if reply[0] == "err":
            raise _refusal(reply[1:], claim.sku)
        if reply[0] != "ok" or reply[1] != claim.id:  # (a replay: a lost attempt's claim)
            log.error("redis take of drawn claim %s answered %s", claim.id, reply)
            self.stale.add(claim.launch_id)
        try:
            super().take(claim.launch_id, claim.fan_id, claim.sku, claim.quantity, now, drawn=True)
        except Exception:
            self._move("untake", claim)
            raise

    # -- a claim's units after the race: Redis, then the books --------------------------------
    def release(self, claim: Claim, state: ClaimState) -> None:
        self._move("release", claim, state)
        super().release(claim, state)

    def settle(self, claim: Claim) -> None:
        self._move("settle", claim)
        super().settle(claim)

    def unsettle(self, claim: Claim) -> None:
        self._move("unsettle", claim)
        super().unsettle(claim)

    def unsell(self, claim: Claim) -> None:
        self._move("unsell", claim)
        super().unsell(claim)

    def untake(self, claim: Claim) -> None:
        self._move("untake", claim)
        super().untake(claim)

    def restore(self, claim: Claim) -> None:
        """A claim read back from the record or adopted from a worker: Redis counts it
        already (the worker's take, or `RedisAllocator.load`); the books count it now. A
        claim made with a priority code spends the code's unit set aside in the books."""
        book = self._books[claim.launch_id]
        code = book.codes.get(claim.priority_code) if claim.priority_code else None
        if code is not None and code.redeemed_by_claim is None and claim.is_held:
            code.redeemed_by_claim = claim.id
            book.stock[code.sku].set_aside -= 1
            if code.sku != claim.sku:  # an any-SKU code used for another SKU
                code.sku = claim.sku
        super().restore(claim)

    # -- units set aside for priority codes ------------------------------------------------
    def set_aside(self, launch_id: str, sku: str | None, count: int) -> list[str]:
        reply = self._run(self._aside_script, launch_id, [sku or "", count])
        if reply[0] != "ok":
            if reply[1] == "unknown_sku":
                raise InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
            if reply[1] == "aside_short":
                raise too_few_to_set_aside(reply[2])
            raise _refusal(reply[1:], sku or "")
        skus = [str(s) for s in reply[1:]]
        book = self._books[launch_id]
        for held in skus:
            book.stock[held].set_aside += 1  # (the books may lag Redis: never refused here)
        return skus

    def add_codes(self, codes: Sequence[PriorityCode]) -> None:
        self._codes("add", codes, _EPOCH)
        super().add_codes(codes)

    def withdraw_codes(self, codes: Sequence[PriorityCode]) -> None:
        self._codes("withdraw", codes, _EPOCH)
        super().withdraw_codes(codes)

    def expire_code(self, launch_id: str, code: str, now: datetime) -> str | None:
        if launch_id in self._books:
            args: list[str | int] = ["expire", micros(now), 1, code, "", "0", "", ""]
            self._run(self._codes_script, launch_id, args)
        return super().expire_code(launch_id, code, now)

    def _codes(self, op: str, codes: Sequence[PriorityCode], now: datetime) -> None:
        by_launch: dict[str, list[str | int]] = {}
        for c in codes:
            expires = "" if c.expires_at is None else micros(c.expires_at)
            args = by_launch.setdefault(c.launch_id, [])
            args += [c.code, c.sku, "1" if c.any_sku else "0", expires, c.redeemed_by_claim or ""]
        for launch_id, args in by_launch.items():
            self._run(self._codes_script, launch_id, [op, micros(now), len(args) // 5, *args])
