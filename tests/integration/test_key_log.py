"""`soldout.scaleout.key_log` against a real Redis server: the copy a worker keeps of a
launch's keys holds every key with a claim, is read from where it left off, and starts
again when the launch is loaded anew (Redis restarted, rebuilt, failed over)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.claims import Claim
from soldout.domain.launches import LaunchRules
from soldout.domain.pow import Spent
from soldout.scaleout import claims as scaleout_claims
from soldout.scaleout.claims import TERMS, ScaleOutClaims, Terms
from soldout.scaleout.key_log import DIGITS, KeyLogs
from soldout.scaleout.redis_allocator import RedisAllocator
from tests.integration.test_redis_allocator import T0, launch_of
from tests.integration.test_redis_allocator import client as client  # (the fixture)
from tests.redis_server import RedisSpace

pytest_plugins = ["tests.redis_server"]


async def test_the_copy_holds_every_key_with_a_claim_and_grows_from_where_it_left_off(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    assert await allocator.load(launch_of("lch_1", {"A": 3}), now=T0)
    logs = KeyLogs(client)
    empty = await logs.read(allocator, time.monotonic())
    assert empty is not None
    assert len(empty) == 0
    await allocator.take("fan_1", "A", 1, T0, "k1", "clm_1")
    await allocator.take("fan_2", "A", 1, T0, "k1", "clm_2")
    await allocator.take("fan_1", "A", 1, T0, "k1", "clm_3")  # a replay: nothing new
    copy = await logs.read(allocator, time.monotonic())
    assert copy is empty
    assert len(copy) == 2
    assert copy.length == 2 * DIGITS
    assert copy.may_have("fan_1", "k1")
    assert copy.may_have("fan_2", "k1")
    assert not copy.may_have("fan_1", "k2")
    assert not copy.may_have("fan_3", "k1")
    # ("fan_1" + "1k" and "fan_11" + "k" are two fields, as in the replay index)
    assert not copy.may_have("fan_11", "")
    await allocator.take("fan_3", "A", 1, T0, "k9", "clm_4")
    with pytest.raises(errors.SoldOut):  # not a claim: not in the log
        await allocator.take("fan_4", "A", 1, T0, "k9", "clm_5")
    assert (await logs.read(allocator, time.monotonic())) is copy
    assert copy.may_have("fan_3", "k9")
    assert not copy.may_have("fan_4", "k9")
    assert copy.length == 3 * DIGITS


async def test_a_launch_loaded_again_starts_a_new_log_with_its_restored_claims(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    launch = launch_of("lch_1", {"A": 5})
    allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    assert await allocator.load(launch, now=T0)
    await allocator.take("fan_1", "A", 1, T0, "gone", "clm_1")
    logs = KeyLogs(client)
    first = await logs.read(allocator, time.monotonic())
    assert first is not None
    assert first.may_have("fan_1", "gone")
    generation = first.generation
    # rebuilt from the record, which holds another claim (Redis had lost it)
    kept = Claim(
        id="clm_7",
        launch_id="lch_1",
        fan_id="fan_7",
        sku="A",
        quantity=1,
        unit_price=1000,
        currency="EUR",
        created_at=T0,
        expires_at=T0.replace(year=2031),
        idempotency_key="kept",
    )
    assert await allocator.load(launch, now=T0, claims=[kept], replace=True)
    again = await logs.read(allocator, time.monotonic())
    assert again is first
    assert again.generation != generation
    assert again.may_have("fan_7", "kept")
    assert not again.may_have("fan_1", "gone")
    assert again.length == DIGITS


async def test_a_launch_loaded_without_a_log_is_never_answered_from_a_copy(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    """A launch Redis held from before its log existed: every key is looked up."""
    allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    assert await allocator.load(launch_of("lch_1", {"A": 1}), now=T0)
    await client.hdel(allocator.keys[0], "log")
    logs = KeyLogs(client)
    assert await logs.read(allocator, time.monotonic()) is None
    assert await logs.recent(allocator, 60.0) is None


async def test_a_worker_answers_a_kept_refusal_from_memory_never_raising_it_again(
    client: aioredis.Redis, redis_space: RedisSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim path of a worker (`ScaleOutClaims`) after the last unit went: fresh keys
    are refused from memory without Redis (`refusal`, the same instance every time, which
    is never raised: raised again and again it would chain every traceback to itself), the
    key that took the unit is left to `claim` (its replay)."""
    monkeypatch.setattr(scaleout_claims, "FLAG_SECONDS", 60.0)  # (kept through this test)
    allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    assert await allocator.load(launch_of("lch_1", {"A": 1}), now=T0)
    terms = Terms(public=True, alone=True, window=600, prices={"A": (1000, "EUR")}, opens=0.0)
    await client.hset(allocator.keys[0], TERMS, terms.encode())
    await allocator.take("fan_1", "A", 1, T0, "the-last", "clm_1")
    store: Any = None  # (a refusal never reaches the record)
    claims = ScaleOutClaims(client, store, FakeClock(T0), prefix=redis_space.prefix)
    assert claims.refusal("fan_2", "lch_1", "A", "k", with_code=False) is None  # not known yet
    with pytest.raises(errors.SoldOut) as learnt:
        await claims.claim("fan_2", "lch_1", "A", 1, "k")
    kept = claims.refusal("fan_3", "lch_1", "A", "k", with_code=False)
    assert isinstance(kept, errors.SoldOut)
    assert kept is learnt.value
    assert kept.__traceback__ is not None  # (raised once, by the script's answer)
    traceback = kept.__traceback__
    for n in range(100):
        assert claims.refusal(f"fan_{n}", "lch_1", "A", f"k{n}", with_code=False) is kept
    assert kept.__traceback__ is traceback
    assert claims.refusal("fan_1", "lch_1", "A", "the-last", with_code=False) is None
    assert claims.refusal("fan_3", "lch_1", "A", "k", with_code=True) is None


async def test_reads_at_once_bring_the_copy_up_to_date_once_and_miss_nothing(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    """A stampede's refusals all ask for the copy at once: one read at a time, each
    claim's refusal covered by a read sent after it; no entry skipped afterwards."""
    allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    limit = LaunchRules(per_fan_limit=1)
    assert await allocator.load(launch_of("lch_1", {"A": 20}, rules=limit), now=T0)
    for n in range(3):
        await allocator.take(f"fan_{n}", "A", 1, T0, "k", f"clm_{n}")
    logs = KeyLogs(client)
    copies = await asyncio.gather(*(logs.read(allocator, time.monotonic()) for _ in range(5)))
    copy = copies[0]
    assert copy is not None
    assert all(c is copy for c in copies)
    assert (len(copy), copy.length) == (3, 3 * DIGITS)
    for n in range(3, 10):
        await allocator.take(f"fan_{n}", "A", 1, T0, "k", f"clm_{n}")
    await asyncio.gather(*(logs.read(allocator, time.monotonic()) for _ in range(5)))
    assert all(copy.may_have(f"fan_{n}", "k") for n in range(10))
    assert (len(copy), copy.length) == (10, 10 * DIGITS)
    # a read sent after a refusal covers it: a claim whose refusal came earlier needs no read
    before = copy.sent_at
    assert await logs.read(allocator, before) is copy
    assert copy.sent_at == before


async def test_a_copy_is_read_whole_again_when_the_log_is_shorter_or_not_ready(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    """A replica that missed the last writes (the same generation, a shorter log): the
    copy starts again from what is there; a launch being loaded: no copy at all."""
    allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    assert await allocator.load(launch_of("lch_1", {"A": 5}), now=T0)
    await allocator.take("fan_1", "A", 1, T0, "k1", "clm_1")
    await allocator.take("fan_2", "A", 1, T0, "k2", "clm_2")
    logs = KeyLogs(client)
    copy = await logs.read(allocator, time.monotonic())
    assert copy is not None
    assert copy.length == 2 * DIGITS
    log_key = allocator.keys[-1]
    first = (await client.getrange(log_key, 0, DIGITS - 1)).decode()
    await client.set(log_key, first)  # the replica had only the first entry
    again = await logs.read(allocator, time.monotonic())
    assert again is copy
    assert copy.length == DIGITS
    assert copy.may_have("fan_1", "k1")
    assert not copy.may_have("fan_2", "k2")
    await client.hset(allocator.keys[0], "ready", "0")  # being loaded again
    assert await logs.read(allocator, time.monotonic()) is None


async def test_a_proof_spent_on_a_claim_redis_then_refuses_is_given_back(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    """Proof of work spent at the gate, then Redis answers sold out: the proof is the
    fan's again, in Redis and in the gate's own record (`give_back`: the owner's)."""
    allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    assert await allocator.load(launch_of("lch_1", {"A": 1}), now=T0)
    terms = Terms(
        public=True, alone=False, window=600, prices={"A": (1000, "EUR")}, opens=0.0, pow=8
    )
    await client.hset(allocator.keys[0], TERMS, terms.encode())
    await allocator.take("fan_1", "A", 1, T0, "the-last", "clm_1")
    given: list[tuple[str, Spent]] = []
    store: Any = None  # (a refusal never reaches the record)
    claims = ScaleOutClaims(
        client,
        store,
        FakeClock(T0),
        prefix=redis_space.prefix,
        give_back=lambda launch_id, spent: given.append((launch_id, spent)),
    )
    proof = Spent("ab" * 8, int(time.time() * 1000) + 60_000)
    with pytest.raises(errors.SoldOut):
        await claims.claim("fan_2", "lch_1", "A", 1, "k", admit=lambda gated: proof)
    assert given == [("lch_1", proof)]
    assert not await client.exists(f"{redis_space.prefix}:{{lch_1}}:pow:{proof.salt}")


async def test_a_copy_not_read_for_a_while_is_dropped(
    client: aioredis.Redis, redis_space: RedisSpace
) -> None:
    """A launch no longer sold leaves no copy behind: one not read since `before` goes,
    and is read whole if asked for again."""
    allocator = RedisAllocator(client, "lch_1", prefix=redis_space.prefix)
    assert await allocator.load(launch_of("lch_1", {"A": 5}), now=T0)
    await allocator.take("fan_1", "A", 1, T0, "k1", "clm_1")
    logs = KeyLogs(client)
    copy = await logs.read(allocator, time.monotonic())
    assert copy is not None
    logs.prune(copy.sent_at)  # read at that moment: kept
    assert await logs.read(allocator, float("-inf")) is copy
    logs.prune(time.monotonic())
    again = await logs.read(allocator, float("-inf"))
    assert again is not None
    assert again is not copy
    assert again.may_have("fan_1", "k1")
