"""The SQLite repositories of the catalogue and the sale (fans are in `fans.py`, what
follows a sale in `after_sale.py`, the targeted reads of claims, reservations and codes in
`reads.py`). Reads run on the caller's read connection; writes are jobs for the
group-commit writer and resolve once durable. Each write's job is made by one function,
which the repository submits alone and its `Block...` twin adds to a transaction block."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.launches import Launch
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product
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
from soldout.store.sqlite.base import _InBlock, _many, _one, _Repo
from soldout.store.sqlite.reads import ClaimReads, CodeReads, ReservationReads
from soldout.store.sqlite.rows import INSERT_ORDER, UPDATE_PAYMENT
from soldout.store.sqlite.writer import Insert, Job

__all__ = [
    "BlockClaims",
    "BlockCodes",
    "BlockLaunches",
    "BlockProducts",
    "BlockReservations",
    "SqliteClaims",
    "SqliteCodes",
    "SqliteLaunches",
    "SqliteProducts",
    "SqliteReservations",
]


def _add_product(product: Product) -> Job:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO products (id, name, description, created_at, specs, images,"
            " rehearsal) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                product.id,
                product.name,
                product.description,
                ts(product.created_at),
                json.dumps(product.specs),
                json.dumps(product.images),
                product.rehearsal,
            ),
        )
        _write_skus(conn, product)

    return job


def _update_product(product: Product) -> Job:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE products SET name = ?, description = ?, specs = ?, images = ? WHERE id = ?",
            (
                product.name,
                product.description,
                json.dumps(product.specs),
                json.dumps(product.images),
                product.id,
            ),
        )
        codes = [s.code for s in product.skus]
        marks = ", ".join("?" * len(codes))
        conn.execute(
            f"DELETE FROM skus WHERE product_id = ? AND code NOT IN ({marks})",
            (product.id, *codes),
        )
        _write_skus(conn, product)

    return job


class BlockProducts(_InBlock):
    def add(self, product: Product) -> None:
        self._block.add(_add_product(product))

    def update(self, product: Product) -> None:
        self._block.add(_update_product(product))


class SqliteProducts(_Repo):
    async def add(self, product: Product) -> None:
        await self._writer.submit(_add_product(product))

    async def update(self, product: Product) -> None:
        await self._writer.submit(_update_product(product))

    async def get(self, product_id: str) -> Product | None:
        found = [p for p in await self._select("WHERE id = ?", (product_id,))]
        return found[0] if found else None

    async def all(self) -> Sequence[Product]:
        return await self._select("", ())

    async def _select(self, where: str, args: tuple[object, ...]) -> list[Product]:
        rows = self._read.execute(
            f"SELECT * FROM products {where} ORDER BY created_at, id",
            args,
        ).fetchall()
        sku_rows = self._read.execute(
            f"SELECT * FROM skus WHERE product_id IN (SELECT id FROM products {where})"
            " ORDER BY product_id, position",
            args,
        )
        return products_from_rows(rows, sku_rows)


def _write_skus(conn: sqlite3.Connection, product: Product) -> None:
    conn.executemany(
        "INSERT INTO skus (product_id, code, position, name, price, cost, currency)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (product_id, code) DO UPDATE SET"
        " position = excluded.position, name = excluded.name, price = excluded.price,"
        " cost = excluded.cost, currency = excluded.currency",
        [
            (product.id, s.code, i, s.name, s.price.amount, s.cost_amount, s.price.currency)
            for i, s in enumerate(product.skus)
        ],
    )


class BlockLaunches(_InBlock):
    def add(self, launch: Launch) -> None:
        self._block.add(lambda conn: _write_launch(conn, launch, insert=True))

    def update(self, launch: Launch) -> None:
        self._block.add(lambda conn: _write_launch(conn, launch, insert=False))


class SqliteLaunches(_Repo):
    async def add(self, launch: Launch) -> None:
        await self._writer.submit(lambda conn: _write_launch(conn, launch, insert=True))

    def update(self, launch: Launch) -> asyncio.Future[None]:
        return self._writer.submit(lambda conn: _write_launch(conn, launch, insert=False))

    async def all(self) -> Sequence[Launch]:
        batches: dict[str, dict[str, int]] = {}
        for row in self._read.execute("SELECT * FROM launch_batches ORDER BY rowid"):
            batches.setdefault(row["launch_id"], {})[row["sku"]] = row["quantity"]
        return [
            launch_from_row(row, batches.get(row["id"], {}))
            for row in self._read.execute(
                f"SELECT {LAUNCH_COLUMNS} FROM launches ORDER BY created_at, id"
            )
        ]


def _write_launch(conn: sqlite3.Connection, launch: Launch, *, insert: bool) -> None:
    values = launch_values(launch)
    columns = [c for c in LAUNCH_COLUMNS.split(", ") if c != "id"]
    if insert:
        conn.execute(
            f"INSERT INTO launches ({', '.join(columns)}, id)"
            f" VALUES ({', '.join('?' * len(values))})",
            values,
        )
    else:
        conn.execute(
            f"UPDATE launches SET {', '.join(c + '=?' for c in columns)} WHERE id=?", values
        )
    conn.executemany(
        "INSERT INTO launch_batches (launch_id, sku, quantity) VALUES (?, ?, ?)"
        " ON CONFLICT (launch_id, sku) DO UPDATE SET quantity = excluded.quantity",
        [(launch.id, sku, qty) for sku, qty in launch.batch.items()],
    )


def _add_reservation(r: Reservation) -> Job:
    return _one(
        "INSERT INTO reservations (id, launch_id, fan_id, created_at, sku) VALUES (?, ?, ?, ?, ?)",
        (r.id, r.launch_id, r.fan_id, ts(r.created_at), r.sku),
    )


class BlockReservations(_InBlock):
    def add(self, reservation: Reservation) -> None:
        self._block.add(_add_reservation(reservation))


class SqliteReservations(ReservationReads):
    def add(self, reservation: Reservation) -> asyncio.Future[None]:
        return self._writer.submit(_add_reservation(reservation), savepoint=False)

    async def all(self) -> Sequence[Reservation]:
        return [
            reservation_from_row(r)
            for r in self._read.execute("SELECT * FROM reservations ORDER BY created_at, id")
        ]


_INSERT_CLAIM = f"INSERT INTO claims ({CLAIM_COLUMNS}) VALUES ({', '.join('?' * 13)})"
_INTO_CLAIMS = f"INSERT INTO claims ({CLAIM_COLUMNS})"
_SPEND_CODE = "UPDATE priority_codes SET redeemed_by_claim = ?, sku = ? WHERE code = ?"


def _add_claim(claim: Claim) -> Job:
    row = claim_row(claim)
    if claim.priority_code is None:
        return Insert(_INTO_CLAIMS, row)

    def with_code(conn: sqlite3.Connection) -> None:
        conn.execute(_INSERT_CLAIM, row)
        conn.execute(_SPEND_CODE, (claim.id, claim.sku, claim.priority_code))

    return with_code


def _settle_claim(claim_id: str, paid_at: datetime, order: Order, payment: PaymentRecord) -> Job:
    # the rows are made now, when the write is issued: what the order and payment say at
    # commit time may have moved on (a later write records that)
    claim_row_ = (ts(paid_at), claim_id)
    order_row_, payment_row = order_row(order), payment_changes(payment)

    def job(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE claims SET state = 'paid', closed_at = ? WHERE id = ? AND state = 'held'",
            claim_row_,
        )
        conn.execute(INSERT_ORDER, order_row_)
        conn.execute(UPDATE_PAYMENT, payment_row)

    return job


def _unsell_claim(claim_id: str, at: datetime) -> Job:
    return _one(
        "UPDATE claims SET state = 'cancelled', closed_at = ? WHERE id = ? AND state = 'paid'",
        (ts(at), claim_id),
    )


def _release_claims(claim_ids: Iterable[str], state: ClaimState, at: datetime) -> Job:
    rows = [(state.value, ts(at), claim_id) for claim_id in claim_ids]
    return _many("UPDATE claims SET state = ?, closed_at = ? WHERE id = ? AND state = 'held'", rows)


class BlockClaims(_InBlock):
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


class SqliteClaims(ClaimReads):
    def add(self, claim: Claim) -> asyncio.Future[None]:
        if claim.priority_code is None:  # the hot path: one row of a multi-row INSERT
            return self._writer.submit(Insert(_INTO_CLAIMS, claim_row(claim)), savepoint=False)
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
        return [
            claim_from_row(r)
            for r in self._read.execute(
                f"SELECT {CLAIM_COLUMNS} FROM claims ORDER BY created_at, id"
            )
        ]


def _add_codes(codes: Sequence[PriorityCode]) -> Job:
    rows = [code_row(c) for c in codes]
    return _many(
        "INSERT INTO priority_codes (code, launch_id, sku, created_at, expires_at, any_sku,"
        " granted_to) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


class BlockCodes(_InBlock):
    def add_many(self, codes: Sequence[PriorityCode]) -> None:
        self._block.add(_add_codes(codes))


class SqliteCodes(CodeReads):
    async def add_many(self, codes: Sequence[PriorityCode]) -> None:
        await self._writer.submit(_add_codes(codes))

    async def all(self) -> Sequence[PriorityCode]:
        return [
            code_from_row(r)
            for r in self._read.execute("SELECT * FROM priority_codes ORDER BY created_at, code")
        ]
