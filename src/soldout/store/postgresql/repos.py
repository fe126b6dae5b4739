"""The PostgreSQL repositories of the catalogue and the sale (fans are in `fans.py`, what
follows a sale in `after_sale.py`, the targeted reads of claims, reservations and codes in
`reads.py`). Rows are built and read by the shared `store.rows` modules; writes are
jobs for the group-commit writer and resolve once durable. Each write's job is made by one
function, which the repository submits alone and its `Block...` twin adds to a
transaction block.

A claim without a priority code is an `Insert`: the claims of one batch go in one
statement (`unnest`), the hot path's only write.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.launches import Launch
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product
from soldout.store.postgresql.base import InBlock, Repo, one, pg
from soldout.store.postgresql.reads import ClaimReads, CodeReads, ReservationReads
from soldout.store.postgresql.writer import Do, Insert, Into, Job, Step
from soldout.store.rows import (
    CLAIM_COLUMNS,
    LAUNCH_COLUMNS,
    claim_from_row,
    claim_row,
    code_from_row,
    code_row,
    launch_from_row,
    launch_values,
    products_from_rows,
    reservation_from_row,
    ts,
)
from soldout.store.rows_after_sale import order_row, payment_changes
from soldout.store.sqlite.rows import INSERT_ORDER, UPDATE_PAYMENT

__all__ = [
    "BlockClaims",
    "BlockCodes",
    "BlockLaunches",
    "BlockProducts",
    "BlockReservations",
    "PgClaims",
    "PgCodes",
    "PgLaunches",
    "PgProducts",
    "PgReservations",
]


def into(table: str, columns: str, types: str) -> Into:
    """`Into` from the column list as the rows module spells it, and one letter a type
    (`t` text, `i` bigint)."""
    names = tuple(columns.split(", "))
    return Into(table, names, tuple("text" if t == "t" else "bigint" for t in types))


CLAIMS = into("claims", CLAIM_COLUMNS, "ttttiittttttt")
SKUS = into("skus", "product_id, code, position, name, price, cost, currency", "ttitiit")
BATCHES = into("launch_batches", "launch_id, sku, quantity", "tti")
RESERVATIONS = into("reservations", "id, launch_id, fan_id, created_at, sku", "ttttt")
CODES = into(
    "priority_codes", "code, launch_id, sku, created_at, expires_at, any_sku, granted_to", "tttttit"
)


def _add_product(p: Product) -> Do:
    insert = (
        "INSERT INTO products (id, name, description, created_at, specs, images, rehearsal)"
        " VALUES (%b, %b, %b, %b, %b, %b, %b)",
        (
            p.id,
            p.name,
            p.description,
            ts(p.created_at),
            json.dumps(p.specs),
            json.dumps(p.images),
            p.rehearsal,
        ),
    )
    return Do([insert, _write_skus(p)])


def _update_product(p: Product) -> Do:
    change = (
        "UPDATE products SET name = %b, description = %b, specs = %b, images = %b WHERE id = %b",
        (p.name, p.description, json.dumps(p.specs), json.dumps(p.images), p.id),
    )
    gone = (
        "DELETE FROM skus WHERE product_id = %b AND code <> ALL(%b::text[])",
        (p.id, [s.code for s in p.skus]),
    )
    return Do([change, gone, _write_skus(p)])


class BlockProducts(InBlock):
    def add(self, product: Product) -> None:
        self._block.add(_add_product(product))

    def update(self, product: Product) -> None:
        self._block.add(_update_product(product))


class PgProducts(Repo):
    async def add(self, product: Product) -> None:
        await self._writer.submit(_add_product(product))

    async def update(self, product: Product) -> None:
        await self._writer.submit(_update_product(product))

    async def get(self, product_id: str) -> Product | None:
        found = await self._select("WHERE id = %b", (product_id,))
        return found[0] if found else None

    async def all(self) -> Sequence[Product]:
        return await self._select("", ())

    async def _select(self, where: str, args: tuple[object, ...]) -> list[Product]:
        rows = await self._rows(f"SELECT * FROM products {where} ORDER BY created_at, id", args)
        sku_rows = await self._rows(
            f"SELECT * FROM skus WHERE product_id IN (SELECT id FROM products {where})"
            " ORDER BY product_id, position",
            args,
        )
        return products_from_rows(rows, sku_rows)


def _write_skus(product: Product) -> Step:
    rows = [
        (product.id, s.code, i, s.name, s.price.amount, s.cost_amount, s.price.currency)
        for i, s in enumerate(product.skus)
    ]
    return (
        SKUS.sql + " ON CONFLICT (product_id, code) DO UPDATE SET position = excluded.position,"
        " name = excluded.name, price = excluded.price, cost = excluded.cost,"
        " currency = excluded.currency",
        SKUS.arrays(rows),
    )


_LAUNCH_FIELDS = [c for c in LAUNCH_COLUMNS.split(", ") if c != "id"]
_INSERT_LAUNCH = (
    f"INSERT INTO launches ({', '.join(_LAUNCH_FIELDS)}, id)"
    f" VALUES ({', '.join(['%b'] * (len(_LAUNCH_FIELDS) + 1))})"
)
_UPDATE_LAUNCH = (
    f"UPDATE launches SET {', '.join(c + ' = %b' for c in _LAUNCH_FIELDS)} WHERE id = %b"
)
_UPSERT_BATCH = (
    BATCHES.sql + " ON CONFLICT (launch_id, sku) DO UPDATE SET quantity = excluded.quantity"
)


class BlockLaunches(InBlock):
    def add(self, launch: Launch) -> None:
        self._block.add(_write_launch(launch, _INSERT_LAUNCH))

    def update(self, launch: Launch) -> None:
        self._block.add(_write_launch(launch, _UPDATE_LAUNCH))


class PgLaunches(Repo):
    async def add(self, launch: Launch) -> None:
        await self._writer.submit(_write_launch(launch, _INSERT_LAUNCH))

    def update(self, launch: Launch) -> asyncio.Future[None]:
        return self._writer.submit(_write_launch(launch, _UPDATE_LAUNCH))

    async def all(self) -> Sequence[Launch]:
        batches: dict[str, dict[str, int]] = {}
        for row in await self._rows("SELECT * FROM launch_batches ORDER BY seq"):
            batches.setdefault(row["launch_id"], {})[row["sku"]] = row["quantity"]
        return [
            launch_from_row(row, batches.get(row["id"], {}))
            for row in await self._rows(
                f"SELECT {LAUNCH_COLUMNS} FROM launches ORDER BY created_at, id"
            )
        ]


def _write_launch(launch: Launch, sql: str) -> Do:
    """The launch's row (the SQLite adapter's columns, `id` last) and its batch."""
    values = launch_values(launch)
    batch = BATCHES.arrays([(launch.id, sku, qty) for sku, qty in launch.batch.items()])
    return Do([(sql, values), (_UPSERT_BATCH, batch)])


def _add_reservation(r: Reservation) -> Insert:
    return Insert(RESERVATIONS, (r.id, r.launch_id, r.fan_id, ts(r.created_at), r.sku))


class BlockReservations(InBlock):
    def add(self, reservation: Reservation) -> None:
        self._block.add(_add_reservation(reservation))


class PgReservations(ReservationReads):
    def add(self, reservation: Reservation) -> asyncio.Future[None]:
        return self._writer.submit(_add_reservation(reservation))

    async def all(self) -> Sequence[Reservation]:
        rows = await self._rows("SELECT * FROM reservations ORDER BY created_at, id")
        return [reservation_from_row(r) for r in rows]


_INSERT_CLAIM = pg(f"INSERT INTO claims ({CLAIM_COLUMNS}) VALUES ({', '.join('?' * 13)})")
_SPEND_CODE = "UPDATE priority_codes SET redeemed_by_claim = %b, sku = %b WHERE code = %b"


def _add_claim(claim: Claim) -> Job:
    """Without a priority code, the hot path: one row of a batch's `unnest` insert."""
    row = claim_row(claim)
    if claim.priority_code is None:
        return Insert(CLAIMS, row)
    spend = (claim.id, claim.sku, claim.priority_code)
    return Do([(_INSERT_CLAIM, row), (_SPEND_CODE, spend)])


def _settle_claim(claim_id: str, paid_at: datetime, order: Order, payment: PaymentRecord) -> Do:
    paid = (
        "UPDATE claims SET state = 'paid', closed_at = %b WHERE id = %b AND state = 'held'",
        (ts(paid_at), claim_id),
    )
    return Do(
        [
            paid,
            (pg(INSERT_ORDER), order_row(order)),
            (pg(UPDATE_PAYMENT), payment_changes(payment)),
        ]
    )


def _unsell_claim(claim_id: str, at: datetime) -> Do:
    return one(
        "UPDATE claims SET state = 'cancelled', closed_at = %b WHERE id = %b AND state = 'paid'",
        (ts(at), claim_id),
    )


def _release_claims(claim_ids: Iterable[str], state: ClaimState, at: datetime) -> Do:
    return one(
        "UPDATE claims SET state = %b, closed_at = %b WHERE id = ANY(%b::text[])"
        " AND state = 'held'",
        (state.value, ts(at), list(claim_ids)),
    )


class BlockClaims(InBlock):
    def add(self, claim: Claim) -> None:
        self._block.add(_add_claim(claim))

    def settle(
        self, claim_id: str, paid_at: datetime, order: Order, payment: PaymentRecord
    ) -> None:
        self._block.add(_settle_claim(claim_id, paid_at, order, payment))

    def unsell(self, claim_id: str, at: datetime) -> None:
        self._block.add(_unsell_claim(claim_id, at))

    def release_many(self, claim_ids: Iterable[str], state: ClaimState, at: datetime) -> None:
        self._block.add(_release_claims(claim_ids, state, at))


class PgClaims(ClaimReads):
    def add(self, claim: Claim) -> asyncio.Future[None]:
        return self._writer.submit(_add_claim(claim))

    def settle(
        self, claim_id: str, paid_at: datetime, order: Order, payment: PaymentRecord
    ) -> asyncio.Future[None]:
        return self._writer.submit(_settle_claim(claim_id, paid_at, order, payment))

    def unsell(self, claim_id: str, at: datetime) -> asyncio.Future[None]:
        return self._writer.submit(_unsell_claim(claim_id, at))

    def release_many(
        self, claim_ids: Iterable[str], state: ClaimState, at: datetime
    ) -> asyncio.Future[None]:
        return self._writer.submit(_release_claims(claim_ids, state, at))

    async def all(self) -> Sequence[Claim]:
        rows = await self._rows(f"SELECT {CLAIM_COLUMNS} FROM claims ORDER BY created_at, id")
        return [claim_from_row(r) for r in rows]


def _add_codes(codes: Sequence[PriorityCode]) -> Do:
    rows = [code_row(c) for c in codes]
    return one(CODES.sql, CODES.arrays(rows))


class BlockCodes(InBlock):
    def add_many(self, codes: Sequence[PriorityCode]) -> None:
        self._block.add(_add_codes(codes))


class PgCodes(CodeReads):
    async def add_many(self, codes: Sequence[PriorityCode]) -> None:
        await self._writer.submit(_add_codes(codes))

    async def all(self) -> Sequence[PriorityCode]:
        rows = await self._rows("SELECT * FROM priority_codes ORDER BY created_at, code")
        return [code_from_row(r) for r in rows]
