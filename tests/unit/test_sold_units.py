""" "Sold" is units paid for and not refunded, as the margin and `soldout report` count
them: a unit refunded after it shipped stays out of stock (it is not back on sale) but
is no sale, in the launch's figures and the dashboard's curve, before a restart and
after it (found by an outside test: "Sold" kept counting it)."""

from __future__ import annotations

from pathlib import Path

from soldout.services import Platform
from soldout.services.sale_history import launch_curve
from soldout.services.tokens import TokenSigner
from soldout.store.sqlite import SqliteStore
from tests.unit.conftest import open_launch


async def test_a_unit_refunded_after_it_shipped_is_no_longer_sold(tmp_path: Path) -> None:
    path = tmp_path / "soldout.db"
    platform = Platform(SqliteStore(path), TokenSigner(None, "a"))
    await platform.start(sweep=False)
    try:
        book = await open_launch(platform, batch={"A": 3}, per_fan_limit=3)
        launch_id = book.launch.id
        for n in (1, 2):
            claim = (await platform.engine.claim(f"fan_{n}", launch_id, "A", 1, "k")).claim
            await platform.engine.pay(f"fan_{n}", claim.id, "test", "tok_ok", "p")
        shipped = await platform.fulfilment.ship_next(book.product.id, "A", 1, "DHL", None)
        await platform.fulfilment.refund(shipped[0].id, "arrived broken")
        assert (book.stock["A"].paid, book.stock["A"].available) == (2, 1)  # not on sale
        assert book.sold("A") == 1
        curve = await launch_curve(platform.engine, launch_id)
        assert (curve.points[-1].sold, curve.points[-1].sold_by_sku) == (1, {"A": 1})
    finally:
        await platform.stop()

    reborn = Platform(SqliteStore(path), TokenSigner(None, "a"))
    await reborn.start(sweep=False)
    try:
        again = reborn.engine.book(launch_id)
        assert (again.stock["A"].paid, again.sold("A")) == (2, 1)
    finally:
        await reborn.stop()
