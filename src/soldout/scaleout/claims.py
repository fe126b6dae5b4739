"""A claim decided by Redis and written to PostgreSQL, on any of N workers.

`ScaleOutClaims` answers the claim path's two questions as `SaleEngine` does in one
process (`refusal`, `claim`), so `api.claim_core.ClaimCore` serves either. A claim:

1. Redis decides (`RedisAllocator.take`, one script): a replay of the fan's key, or the
   refusal the book would give, or the units held and the claim *pending*;
2. its row is written to PostgreSQL (the store's group commit);
3. it is confirmed in Redis (`redis_pending.confirm`), which hands it to the owner;
4. only then is it answered 201.

A failed write puts the units back (`untake`) and answers 503 `storage_unavailable`; a
confirm that finds the units gone (the reaper gave them back, or Redis was rebuilt
without them) cancels the row and answers 503 too. So every 201 has its row, and every
row that Redis does not count is cancelled (`redis_pending` has the whole protocol).

Most of a stampede is answered from this worker's memory: a refusal Redis gave for a
launch and SKU (sold out, not open, paused, closed) is kept for `FLAG_SECONDS` (a `not_open`
no later than the opening; dropped at once when the owner says on pub/sub that the launch
changed: `listen`; when it runs out, one claim asks Redis again while the others keep it),
and answered without Redis for a key not in this worker's copy of the launch's key log,
read just after the refusal (`key_log`); a key in it costs one read of the replay index,
so a retry of a claim that was made gets that claim. What that leaves (a unit put back is
offered again here up to two `FLAG_SECONDS` later): docs/scale-out.md.

What a claim is made at (each SKU's price, the payment window) comes from the owner,
which writes it beside the launch's counts (`TERMS`); a price changed by the maker is
used by every worker within `TERMS_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from soldout.api.claim_core import DecidedElsewhere
from soldout.clock import Clock
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.errors import DomainError, NotFound, NotOpen, StorageUnavailable
from soldout.domain.pow import PowRejected, Spent
from soldout.engine.book import LaunchBook
from soldout.engine.engine import ClaimOutcome
from soldout.ids import new_id
from soldout.scaleout.allocators import Allocators
from soldout.scaleout.duplicates import WRITTEN, duplicates_key
from soldout.scaleout.key_log import KeyLog, KeyLogs
from soldout.scaleout.redis_allocator import Client, RedisAllocator, TakeRequest
from soldout.scaleout.redis_pending import confirm
from soldout.scaleout.redis_values import FanRate
from soldout.scaleout.terms import CHANGED, TERMS, Gated, Terms
from soldout.services.gate import duplicate_buyer
from soldout.store.postgresql import PostgresStore

__all__ = [
    "CHANGED",
    "FLAG_SECONDS",
    "PENDING_SECONDS",
    "TERMS",
    "Gated",
    "OwnerOnly",
    "ScaleOutClaims",
    "Terms",
]

log = logging.getLogger(__name__)

FLAG_SECONDS = 0.1  # a refusal kept in a worker's memory
TERMS_SECONDS = 1.0  # a launch's terms kept in a worker's memory
PENDING_SECONDS = 10.0  # how long a taken claim may wait for its row before the reaper looks
_FLAGGED = frozenset({"sold_out", "not_open", "paused", "closed"})
_BEFORE_GATE = _FLAGGED | {"rate_limited"}  # refusals that leave a proof of work unspent


@dataclass(slots=True)
class Kept:
    """A refusal kept for a launch and SKU: until when (monotonic), the refusal, the key
    log as read just after it, and whether one claim is asking Redis again."""

    until: float
    refusal: DomainError
    log: KeyLog | None
    refreshing: bool = False


class OwnerOnly(DecidedElsewhere):
    """The launch's claims need what only the owner has (a rehearsal's or a draw's
    books): a worker forwards the claim."""


class ScaleOutClaims:
    """The claim path of a worker (see the module)."""

    def __init__(
        self,
        client: Client,
        store: PostgresStore,
        clock: Clock,
        *,
        prefix: str = "soldout",
        pending_seconds: float = PENDING_SECONDS,
        confirmed: Callable[[Claim], None] = lambda claim: None,
        book_of: Callable[[str, str], LaunchBook] | None = None,
        rate: FanRate | None = None,
        address_rate: FanRate | None = None,
        give_back: Callable[[str, Spent], None] = lambda launch_id, spent: None,
    ) -> None:
        """On the owner, `confirmed` adopts each claim at once and `book_of` gives the
        launch's book to the gate (`admit`); a worker has neither and forwards a claim
        whose launch needs the gate (`OwnerOnly`). `rate` and `address_rate`: each fan's
        and each client address's claims, counted in Redis across workers."""
        self._client = client
        self.store = store
        self._clock = clock
        self._prefix = prefix
        self._pending = timedelta(seconds=pending_seconds)
        self._confirmed = confirmed  # the owner adopts its own claims at once
        self._give_back = give_back  # a proof its gate spent in memory (the owner's)
        self._book_of = book_of
        # each launch's, by id; the rates limit claims in Redis, across workers
        self.allocator = Allocators(client, prefix, rate, address_rate)
        self._terms: dict[str, tuple[float, Terms | None]] = {}
        self._flags: dict[tuple[str, str], Kept] = {}  # by launch and SKU
        self._logs = KeyLogs(client)
        self._changes = 0  # how many times the owner said a launch changed (`forget`)

    async def terms(self, launch_id: str) -> Terms | None:
        """The launch's terms, None if Redis has none (not loaded, or no such launch)."""
        now = time.monotonic()
        cached = self._terms.get(launch_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            raw = await self._client.hget(self.allocator(launch_id).keys[0], TERMS)
        except Exception as exc:
            raise StorageUnavailable("the sale's counts cannot be reached; retry") from exc
        terms = None if raw is None else Terms.decode(raw)
        self._terms[launch_id] = (now + TERMS_SECONDS, terms)
        return terms

    def forget(self, launch_id: str | None = None) -> None:
        """What this worker keeps of a launch (None: of every launch) is read again."""
        self._changes += 1  # a refusal Redis gave before this is not kept
        self._logs.drop(launch_id)
        if launch_id is None:
            self._flags.clear()
            self._terms.clear()
            return
        self._terms.pop(launch_id, None)
        for key in [k for k in self._flags if k[0] == launch_id]:
            del self._flags[key]

    async def listen(self) -> None:
        """Forget a launch as soon as the owner says it changed (`CHANGED`, pub/sub): a
        sale opened, paused or resumed, a batch grown, a price changed reach this worker
        within moments, not at the end of a kept refusal or terms. Runs until cancelled."""
        channel = f"{self._prefix}:{CHANGED}"
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    self.forget()  # anything said while not listening is unknown
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            data = message["data"]
                            self.forget(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("listening for launch changes: %s", exc)
                await asyncio.sleep(0.5)  # Redis out of reach: try again

    def refusal(
        self, fan_id: str, launch_id: str, sku: str, idempotency_key: str, with_code: bool
    ) -> DomainError | None:
        """A kept refusal, from memory alone, for a key the launch's key log lacks; else
        None and `claim` decides. Shared: render it, never raise it (raising one instance
        again and again would chain every traceback to it)."""
        if with_code:
            return None
        flag = self._flags.get((launch_id, sku))
        if flag is None or flag.log is None or flag.until <= time.monotonic():
            return None
        return None if flag.log.may_have(fan_id, idempotency_key) else flag.refusal

    async def claim(
        self,
        fan_id: str,
        launch_id: str,
        sku: str,
        quantity: int,
        idempotency_key: str,
        priority_code: str | None = None,
        admit: Callable[[Any], object] | None = None,
        address: str | None = None,
    ) -> ClaimOutcome:
        allocator = self.allocator(launch_id)
        spent: tuple[str, str, Spent] | None = None  # the proof of work this claim spent
        if self._book_of is not None:  # the owner: its books say what fans may see
            book = self._book_of(launch_id, fan_id)
            # the launch's gate, unless this is a retry of a claim made (as in one process:
            # after the refusals its book gives, so a proof is not spent on a sold out)
            if admit is not None and await allocator.replay(fan_id, idempotency_key) is None:
                refused = None if priority_code else book.refusal(sku, self._clock.now())
                if refused is not None:
                    raise refused
                spent = await self._spend(launch_id, admit(book))
        terms = await self.terms(launch_id)
        if terms is None:  # every launch is in Redis once made (workers connect only then)
            raise NotFound("launch")
        if self._book_of is None and not (terms.public and terms.workers):
            raise OwnerOnly(launch_id)
        flag = self._flags.get((launch_id, sku)) if priority_code is None else None
        refreshing = False
        if flag is not None:
            if flag.until > time.monotonic():
                if not await self._replays(allocator, flag.log, fan_id, idempotency_key):
                    raise flag.refusal.with_traceback(None)  # (shared: see `refusal`)
            elif flag.refusal.code != "not_open" and not flag.refreshing:
                # this claim asks Redis again; the others keep the refusal meanwhile
                flag.until, flag.refreshing = time.monotonic() + FLAG_SECONDS, True
                refreshing = True
            else:
                del self._flags[(launch_id, sku)]
        early = time.time() < terms.opens and priority_code is None
        if (
            self._book_of is None
            and (terms.gated or terms.dup)
            and admit is not None
            and not await self._replays(
                allocator,
                await self._logs.recent(allocator, FLAG_SECONDS) if early else None,
                fan_id,
                idempotency_key,
            )
        ):
            # a worker's own gate, after what one process answers first (not open yet;
            # sold out, when this worker was told so) and never for a retry of a claim made
            if early:
                raise NotOpen()
            if terms.dup and await self._flagged(terms.dup, fan_id):
                raise duplicate_buyer()
            if terms.gated:
                spent = await self._spend(launch_id, admit(Gated(launch_id, terms)))
        now = self._clock.now()
        price = terms.prices.get(sku)
        claim = Claim(
            id=new_id("clm"),
            launch_id=launch_id,
            fan_id=fan_id,
            sku=sku,
            quantity=quantity,
            unit_price=price[0] if price else 0,
            currency=price[1] if price else "EUR",
            created_at=now,
            expires_at=now + timedelta(seconds=terms.window),
            idempotency_key=idempotency_key,
            priority_code=priority_code,
        )
        request = TakeRequest(
            fan_id, sku, quantity, idempotency_key, claim.id, priority_code, address=address or ""
        )
        changes = self._changes
        try:
            answer = (await allocator.take_many([request], now, now + self._pending))[0]
        except DomainError:
            await self._unspend(spent)
            raise
        except Exception as exc:
            await self._unspend(spent)
            raise StorageUnavailable("the sale's counts cannot be reached; retry") from exc
        if isinstance(answer, DomainError):
            if answer.code in _BEFORE_GATE:  # one process refuses those before the gate
                await self._unspend(spent)
            if answer.code in _FLAGGED and priority_code is None:
                keep = FLAG_SECONDS
                if answer.code == "not_open":  # not past the opening
                    keep = min(keep, terms.opens - time.time())
                arrived = time.monotonic()
                log = await self._logs.read(allocator, arrived)  # every key with a claim then
                if self._changes == changes:  # (else the launch changed meanwhile)
                    self._flags[(launch_id, sku)] = Kept(arrived + keep, answer, log)
            elif refreshing:
                self._flags.pop((launch_id, sku), None)
            raise answer
        if refreshing or not answer.replayed:  # units were there: nothing to keep
            self._flags.pop((launch_id, sku), None)
        if answer.replayed:
            return ClaimOutcome(await self._first(answer.claim_id), replayed=True)
        # Shielded: a client that hangs up does not leave units taken without their row.
        return await asyncio.shield(self._record(allocator, claim))

    async def _replays(
        self, allocator: RedisAllocator, log: KeyLog | None, fan_id: str, key: str
    ) -> bool:
        """Whether a claim was made with the fan's key on the launch: no, from the key
        log's copy when it lacks the key, else from the replay index."""
        if log is not None and not log.may_have(fan_id, key):
            return False
        return await allocator.replay(fan_id, key) is not None

    async def _flagged(self, limit: int, fan_id: str) -> bool:
        """Whether the owner flagged the fan a duplicate buyer at this limit
        (`scaleout.duplicates`)."""
        key = duplicates_key(self._prefix, limit)
        try:
            written, flagged = await self._client.smismember(key, [WRITTEN, fan_id])
        except Exception as exc:
            raise StorageUnavailable("the sale's counts cannot be reached; retry") from exc
        if not written:  # not written whole yet, or lost with Redis: the owner decides
            raise OwnerOnly("duplicates")
        return bool(flagged)

    async def _spend(self, launch_id: str, spent: object) -> tuple[str, str, Spent] | None:
        """A proof of work is accepted once by all the processes selling together: its id
        is set in Redis (NX, until the challenge expires), and a second use anywhere is
        refused as it is in one process. Returns what to give back if the claim is then
        refused: the key set, the launch, the proof (None: no proof)."""
        if not isinstance(spent, Spent):
            return None
        ttl = max(1, spent.expires_ms - int(time.time() * 1000))
        key = f"{self._prefix}:{{{launch_id}}}:pow:{spent.salt}"
        try:
            fresh = await self._client.set(key, b"1", nx=True, px=ttl)
        except Exception as exc:
            self._give_back(launch_id, spent)
            raise StorageUnavailable("the sale's counts cannot be reached; retry") from exc
        if not fresh:
            raise PowRejected("pow_reused", "this challenge was already used; ask for a new one")
        return key, launch_id, spent

    async def _unspend(self, spent: tuple[str, str, Spent] | None) -> None:
        """The claim a proof was spent on was refused (sold out, paused, its rate, Redis
        out of reach): the proof is the fan's again, in Redis and in the owner's gate, as
        one process, which checks those first, would have left it."""
        if spent is not None:
            key, launch_id, proof = spent
            self._give_back(launch_id, proof)
            with contextlib.suppress(Exception):
                await self._client.delete(key)

    async def _record(self, allocator: RedisAllocator, claim: Claim) -> ClaimOutcome:
        try:
            await self.store.claims.add(claim)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await allocator.untake(claim.id)
            raise StorageUnavailable(
                "the claim could not be recorded; nothing was sold, retry"
            ) from exc
        outcome = await self._confirm(allocator, claim)
        if outcome == "gone":
            log.warning("claim %s was given back before its row was written", claim.id)
            at = self._clock.now()
            written = self.store.claims.release_many([claim.id], ClaimState.CANCELLED, at)
            with contextlib.suppress(Exception):
                await written
            raise StorageUnavailable("the claim could not be recorded in time; retry")
        self._confirmed(claim)
        return ClaimOutcome(claim, replayed=False)

    async def _confirm(self, allocator: RedisAllocator, claim: Claim) -> str:
        """`confirm`, tried again while Redis is out of reach (it may be restarting, and
        its counts being rebuilt from the record) until the claim's deadline: then "gone",
        as the reaper would give its units back."""
        deadline = time.monotonic() + self._pending.total_seconds()
        pause = 0.01
        while True:
            try:
                return await confirm(allocator, claim)
            except Exception as exc:
                if time.monotonic() > deadline:
                    log.warning("claim %s not confirmed in time: %s", claim.id, exc)
                    return "gone"
            await asyncio.sleep(pause)  # Redis is restarting or being rebuilt
            pause = min(pause * 2, 0.2)

    async def _first(self, claim_id: str) -> Claim:
        """The claim a replay returns, from PostgreSQL (its row is written before its first
        answer; a retry racing the first request waits for that row)."""
        deadline = time.monotonic() + self._pending.total_seconds()
        pause = 0.005
        while True:
            first = await self.store.claims.get(claim_id)
            if first is not None:
                return first
            if time.monotonic() > deadline:
                raise StorageUnavailable("the first claim with this key is still being recorded")
            await asyncio.sleep(pause)  # the first request's write is in flight
            pause = min(pause * 2, 0.1)
