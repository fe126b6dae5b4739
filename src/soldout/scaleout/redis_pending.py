"""A claim between its decision in Redis and its record in PostgreSQL, and after.

A worker answers 201 only once the claim's row is written, and the row is written only
after Redis took its units. Between the two the claim is *pending*: `take` put its id in
the launch's `pending` set with a deadline. Then:

- the row is written: the worker `confirm`s. The claim leaves `pending` and joins the
  launch's `made` stream whole, where the owner (`scaleout.owner`) reads it to keep its
  expiry, payment and pages. Only a confirmed claim is answered 201.
- the write failed: the worker `untake`s it (its units are open again) and answers 503.
- the worker died in between: nobody confirms. Once the deadline has passed, the owner's
  reaper (`due`) asks PostgreSQL: a row there is confirmed as the worker would have; no
  row, and the units go back (`untake`). A unit is held without a record for at most the
  deadline plus one turn of the reaper.
- the confirm finds the claim gone (the reaper put it back, or Redis was rebuilt from
  PostgreSQL before the row was written): the worker cancels the row it wrote and answers
  503, so no yes is ever given for units Redis does not count. `known`: Redis has the
  claim already counted as held (rebuilt from its row): the yes stands.

    outcome = await confirm(allocator, claim)   # "ok" | "known" | "gone"
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from redis.commands.core import AsyncScript

from soldout.domain.claims import Claim, ClaimState
from soldout.scaleout.redis_allocator import RedisAllocator
from soldout.scaleout.redis_prelude import _PRELUDE
from soldout.scaleout.redis_values import micros

__all__ = ["CONFIRM", "MADE_MAX", "claim_from_json", "claim_json", "confirm", "due", "made"]

MADE_MAX = 1_000_000  # entries a launch's stream keeps (about; trimmed by Redis)

# ARGV: claim id, the claim (JSON), the stream's length to keep.
# Reply: "ok" (confirmed now) | "known" (counted already) | "gone" (its units went back).
CONFIRM = (
    _PRELUDE
    + """
local id = ARGV[1]
if redis.call('ZREM', PENDING, id) == 1 then
  redis.call('XADD', MADE, 'MAXLEN', '~', ARGV[3], '*', 'c', ARGV[2])
  return 'ok'
end
local raw = redis.call('HGET', CLAIMS, id)
if raw and cjson.decode(raw).s == 'held' then return 'known' end
return 'gone'
"""
)


_scripts: dict[int, AsyncScript] = {}  # CONFIRM registered once per client


def claim_json(claim: Claim) -> bytes:
    return orjson.dumps(
        {
            "id": claim.id,
            "launch": claim.launch_id,
            "fan": claim.fan_id,
            "sku": claim.sku,
            "qty": claim.quantity,
            "price": claim.unit_price,
            "cur": claim.currency,
            "at": claim.created_at.isoformat(),
            "exp": claim.expires_at.isoformat(),
            "key": claim.idempotency_key,
            "code": claim.priority_code,
        }
    )


def claim_from_json(raw: bytes | str) -> Claim:
    v = orjson.loads(raw)
    return Claim(
        id=v["id"],
        launch_id=v["launch"],
        fan_id=v["fan"],
        sku=v["sku"],
        quantity=v["qty"],
        unit_price=v["price"],
        currency=v["cur"],
        created_at=datetime.fromisoformat(v["at"]),
        expires_at=datetime.fromisoformat(v["exp"]),
        idempotency_key=v["key"],
        priority_code=v["code"],
        state=ClaimState.HELD,
    )


async def confirm(allocator: RedisAllocator, claim: Claim) -> str:
    """The claim's row is written: "ok" (now in the `made` stream), "known" (Redis counts
    it already, from its row), or "gone" (its units went back: no yes may be given)."""
    script = _scripts.get(id(allocator.client))
    if script is None:
        script = _scripts[id(allocator.client)] = allocator.client.register_script(CONFIRM)
    reply = await script(keys=allocator.keys, args=[claim.id, claim_json(claim), MADE_MAX])
    return reply.decode() if isinstance(reply, bytes) else str(reply)


async def due(allocator: RedisAllocator, now: datetime, limit: int = 200) -> list[str]:
    """Pending claims whose deadline has passed (the reaper's work)."""
    ids: Sequence[Any] = await allocator.client.zrangebyscore(
        allocator.keys[7], "-inf", micros(now), start=0, num=limit
    )
    return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]


async def made(
    allocator: RedisAllocator, after: str, *, block_ms: int | None = None, count: int = 500
) -> tuple[str, list[Claim]]:
    """Claims confirmed after stream entry `after` ("0": from the start, "$": from now
    on), and the last entry's id to read after next time."""
    key = allocator.keys[8]
    reply: Any = await allocator.client.xread({key: after}, count=count, block=block_ms)
    claims: list[Claim] = []
    last = after
    for _stream, entries in reply or []:
        for entry_id, fields in entries:
            last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            claims.append(claim_from_json(fields[b"c"] if b"c" in fields else fields["c"]))
    return last, claims


async def last_made(allocator: RedisAllocator) -> str:
    """The id of the stream's last entry ("0-0" when empty): read from there to miss
    nothing confirmed after this moment."""
    entries = await allocator.client.xrevrange(allocator.keys[8], count=1)
    if not entries:
        return "0-0"
    entry_id = entries[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
