"""The CSV export streams: its peak memory does not grow with the number of orders.

Orders are bulk-inserted as rows (fans, claims, captured payments, orders, consistent with
each other and with the launch) into a real SQLite store, which a platform then opens as it
would after a sale. The export is streamed to a file under tracemalloc, once for 5,000
orders and once for 50,000.
"""

from __future__ import annotations

import asyncio
import csv
import sqlite3
import tracemalloc
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from soldout.clock import FakeClock
from soldout.domain.launches import LaunchRules
from soldout.domain.money import Money
from soldout.domain.products import Sku
from soldout.ids import new_id
from soldout.services import Platform
from soldout.services.fulfilment import EXPORT_COLUMNS
from soldout.services.tokens import TokenSigner
from soldout.store.ports import OrderFilter
from soldout.store.sqlite import SqliteStore
from soldout.store.sqlite.rows import CLAIM_COLUMNS, ORDER_COLUMNS, PAYMENT_COLUMNS

PEAK_BOUND = 8 * 2**20  # bytes: a page of 1,000 rows and its CSV are well under 1 MiB
PRICE = 2500


@dataclass(frozen=True, slots=True)
class Export:
    orders: list[str] = field(repr=False)  # the ids inserted, in payment order
    peak: int  # bytes, as tracemalloc saw them while the export ran
    csv: Path


def _insert(conn: sqlite3.Connection, table: str, columns: str, rows: list[tuple[object, ...]]):
    marks = ", ".join("?" * len(columns.split(", ")))
    conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def bulk_insert_sale(database: Path, launch_id: str, count: int, clock: FakeClock) -> list[str]:
    """`count` fans, each with one paid claim, its captured payment and its order (no plan
    yet, so no ship date): the rows a sale of `count` units leaves. Returns the order ids."""
    fans, claims, payments, orders = [], [], [], []
    start = clock.now()
    run = new_id("bulk")  # ids in the usual shape, in order (so the indexes grow at the end)
    for i in range(count):
        n = f"{run}{i:08d}"
        fan_id, claim_id, payment_id, order_id = (f"{p}_{n}" for p in ("fan", "clm", "pay", "ord"))
        reference = f"tpay_{n}"
        at = (start + timedelta(milliseconds=i)).isoformat()
        fans.append((fan_id, f"fan{n}@fans.test", f"Fan {i}, Jr", f"R{n}", None, at))
        claims.append(
            (claim_id, launch_id, fan_id, "A", 1, PRICE, "EUR", at, at, "claim-key", None,
             "paid", at)
        )  # fmt: skip
        payments.append(
            (payment_id, claim_id, fan_id, "test", "test", PRICE, "EUR", "pay-key", "f" * 64,
             "captured", reference, None, at, at)
        )  # fmt: skip
        orders.append(
            (order_id, claim_id, launch_id, fan_id, "A", 1, PRICE, "EUR", at, "test", reference,
             "pay-key", "paid", None, None, None, None, None, None, None, None, None)
        )  # fmt: skip
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("BEGIN")
        _insert(
            conn,
            "fans",
            "id, email, name, referral_code, referred_by, created_at",
            fans,
        )
        _insert(conn, "claims", CLAIM_COLUMNS, claims)
        _insert(conn, "payments", PAYMENT_COLUMNS, payments)
        _insert(conn, "orders", ORDER_COLUMNS, orders)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return [o[0] for o in orders]


def platform_on(database: Path, clock: FakeClock) -> Platform:
    return Platform(SqliteStore(database), TokenSigner(b"k" * 32, "adm"), clock)


async def sold(database: Path, count: int, clock: FakeClock) -> tuple[str, list[str]]:
    """A launch of `count` units created through the platform, then sold out by rows
    inserted a minute later. Returns the launch id and the order ids."""
    platform = platform_on(database, clock)
    await platform.start(sweep=False)
    try:
        sku = Sku("A", "A", Money(PRICE, "EUR"), Money(1000, "EUR"))
        product = await platform.catalog.create_product("Model One", "", [sku])
        book = await platform.catalog.create_launch(
            product_id=product.id,
            title="t",
            sale_opens_at=clock.now(),
            rules=LaunchRules(),
            batch={"A": count},
        )
    finally:
        await platform.stop()
    clock.advance(60)
    return book.launch.id, bulk_insert_sale(database, book.launch.id, count, clock)


async def export_of(folder: Path, count: int, *, read_back: bool) -> Export:
    """A sale of `count` units exported as CSV to a file. With `read_back` the platform is
    started as after a sale, rebuilding its counters from the rows (which proves them
    consistent); without, only the store is opened: the export reads nothing else."""
    clock = FakeClock()
    database = folder / "soldout.db"
    launch_id, ids = await sold(database, count, clock)

    platform = platform_on(database, clock)
    if read_back:
        await platform.start(sweep=False)
        stock = platform.engine.book(launch_id).stock["A"]
        assert (stock.paid, stock.available) == (count, 0)
        assert len(platform.engine.orders.all()) == len(platform.engine.checkout.all()) == count
    else:
        await platform.store.open()
    try:
        out = folder / "orders.csv"
        tracemalloc.start()
        try:
            with out.open("w", newline="") as file:
                async for chunk in platform.fulfilment.export_csv(OrderFilter()):
                    file.write(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await platform.stop()
    return Export(ids, peak, out)


def assert_one_line_per_order(export: Export) -> None:
    with export.csv.open(newline="") as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert len(rows) == len(export.orders) + 1
    assert [r[0] for r in rows[1:]] == export.orders  # each once, in payment order
    assert rows[1][EXPORT_COLUMNS.index("name")] == "Fan 0, Jr"


async def test_the_csv_export_streams_in_constant_memory(tmp_path: Path) -> None:
    served = await export_of(tmp_path / "served", 5_000, read_back=True)  # the rows load
    small = await export_of(tmp_path / "small", 5_000, read_back=False)
    large = await export_of(tmp_path / "large", 50_000, read_back=False)
    assert_one_line_per_order(served)
    assert_one_line_per_order(small)
    assert_one_line_per_order(large)
    peak_small, peak_large = small.peak, large.peak
    assert peak_large < PEAK_BOUND, f"peak {peak_large:,} bytes for 50,000 orders"
    # Ten times the orders, about the same peak: nothing grows with the export.
    assert peak_large < 1.5 * peak_small, f"peak {peak_small:,} -> {peak_large:,} bytes"


async def test_other_requests_are_served_between_pages_of_an_export(tmp_path: Path) -> None:
    clock = FakeClock()
    database = tmp_path / "soldout.db"
    await sold(database, 3000, clock)
    platform = platform_on(database, clock)
    await platform.store.open()
    events: list[str] = []

    async def export() -> None:
        async for _ in platform.fulfilment.export_csv(OrderFilter(), page_size=500):
            events.append("page")

    async def another_request() -> None:
        events.append("served")

    try:
        await asyncio.gather(export(), another_request())
    finally:
        await platform.stop()
    assert events.count("page") == 7  # 3,000 orders in pages of 500, then an empty one
    assert events.index("served") < events.count("page") - 1  # not after the whole export
