"""Moved ship dates told after a crash: the maker's new plan moves every order's date, the
process dies after the first chunk of fans was told, and the restarted process tells the
rest; no fan is told twice, and each is told the date as it is now."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from soldout.clock import FakeClock
from soldout.engine import ship_news
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.unit.test_payment_races import DAY, Sale, running_sale

FANS = 8


async def told(platform: Platform, fan: str) -> list[dict[str, object]]:
    notes = await platform.fans.notifications(fan, 50)
    return [n.data for n in notes if n.kind == "ship_date_changed"]


async def test_a_crash_while_fans_are_told_of_moved_dates_tells_the_rest_once_after_restart(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ship_news, "CHUNK", 3)  # three fans per transaction
    async with running_sale(clock) as sale:
        await sale.open(batch={"A": FANS})
        await sale.plan(per_day=1)
        orders = {f"fan_{i}": await sale.buy(f"fan_{i}") for i in range(FANS)}
        was = {fan: o.ship_date for fan, o in orders.items()}  # (the engine's objects move)
        assert list(was.values()) == [DAY + timedelta(days=i) for i in range(FANS)]
        store = sale.platform.store
        assert isinstance(store, InMemoryStore)
        durable = await crash_after_first_chunk(sale, store)

    # The first chunk is on record, with its fans told; the rest is not.
    on_record = [n for n in durable.notifications.rows if n.kind == "ship_date_changed"]
    assert len(on_record) == 3

    provider = sale.provider
    reborn = Platform(durable, TokenSigner(b"k" * 32, "adm"), clock, provider)
    await reborn.start(sweep=False)
    try:
        await reborn.engine.ship_news.drained()
        for fan, before in orders.items():
            now = reborn.engine.orders.get(before.id)
            assert now is not None
            expected = DAY + timedelta(days=list(orders).index(fan) // 2)
            assert now.ship_date == expected
            news = await told(reborn, fan)
            if expected == was[fan]:
                assert news == []  # not moved: nothing to tell
            else:
                assert news == [  # told once, the date as it is now
                    {
                        "order_id": before.id,
                        "before": was[fan].isoformat(),  # type: ignore[union-attr]
                        "after": expected.isoformat(),
                    }
                ]
    finally:
        await reborn.stop()


async def crash_after_first_chunk(sale: Sale, store: InMemoryStore) -> InMemoryStore:
    """Double the plan's rate; the process "dies" once the first chunk of news is durable:
    returns what a restarted process would find then."""
    news = sale.engine.ship_news
    original = news._tell
    durable: list[InMemoryStore] = []
    dead = asyncio.Event()

    async def tell_then_die(batch: list) -> None:  # type: ignore[type-arg]
        if durable:  # a dead process writes nothing more
            await asyncio.Event().wait()
        await original(batch)
        durable.append(store.crash_copy())
        dead.set()
        await asyncio.Event().wait()

    news._tell = tell_then_die  # type: ignore[method-assign]
    await sale.plan(per_day=2)
    await dead.wait()
    await news.stop()
    return durable[0]
