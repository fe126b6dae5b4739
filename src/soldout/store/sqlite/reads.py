"""The SQLite adapter's targeted reads of the sale's records (`get`, `of_launches`,
`for_fan`, `of_claims`, `in_queue`, `unsettled`, `tally`), inherited by the repositories
of `repos.py` and `after_sale.py`: what lets the engine read the live launches' rows
instead of every row.

A collection of ids goes in as one JSON array (`IN (SELECT value FROM json_each(?))`):
one statement however many ids, no limit on parameters, and SQLite still walks the
index of the column once per id (`claims_by_launch`, `orders_by_launch`,
`payments_by_claim`, `one_reservation_per_fan`; migration 0009)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.payments import PaymentRecord
from soldout.store.ports import ClaimTally
from soldout.store.rows import CLAIM_COLUMNS, claim_from_row, code_from_row, reservation_from_row
from soldout.store.rows_after_sale import (
    ORDER_COLUMNS,
    PAYMENT_COLUMNS,
    RETURNED,
    order_from_row,
    payment_from_row,
)
from soldout.store.sqlite.base import _Repo

__all__ = ["ClaimReads", "CodeReads", "OrderReads", "PaymentReads", "ReservationReads"]

_IN_IDS = "IN (SELECT value FROM json_each(?))"


def _ids(values: Collection[str]) -> tuple[str]:
    """The parameter `_IN_IDS` reads."""
    return (json.dumps(list(values)),)


class ReservationReads(_Repo):
    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Reservation]:
        if not launch_ids:
            return []
        rows = self._read.execute(
            f"SELECT * FROM reservations WHERE launch_id {_IN_IDS} ORDER BY created_at, id",
            _ids(launch_ids),
        )
        return [reservation_from_row(r) for r in rows]

    async def for_fan(self, fan_id: str) -> Sequence[Reservation]:
        rows = self._read.execute(
            "SELECT * FROM reservations WHERE fan_id = ? ORDER BY created_at, id", (fan_id,)
        )
        return [reservation_from_row(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = self._read.execute("SELECT launch_id, count(*) FROM reservations GROUP BY 1")
        return {r[0]: r[1] for r in rows}


class CodeReads(_Repo):
    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PriorityCode]:
        if not launch_ids:
            return []
        rows = self._read.execute(
            f"SELECT * FROM priority_codes WHERE launch_id {_IN_IDS} ORDER BY created_at, code",
            _ids(launch_ids),
        )
        return [code_from_row(r) for r in rows]


class ClaimReads(_Repo):
    async def get(self, claim_id: str) -> Claim | None:
        found = self._claims("WHERE id = ?", (claim_id,))
        return found[0] if found else None

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Claim]:
        if not launch_ids:
            return []
        return self._claims(f"WHERE launch_id {_IN_IDS}", _ids(launch_ids))

    async def for_fan(self, fan_id: str) -> Sequence[Claim]:
        return self._claims("WHERE fan_id = ?", (fan_id,))

    async def tally(self) -> Sequence[ClaimTally]:
        rows = self._read.execute(
            "SELECT launch_id, sku, state, count(*), sum(quantity) FROM claims"
            " GROUP BY launch_id, sku, state ORDER BY launch_id, sku, state"
        )
        return [ClaimTally(r[0], r[1], ClaimState(r[2]), r[3], r[4]) for r in rows]

    def _claims(self, where: str, args: tuple[object, ...]) -> list[Claim]:
        return [
            claim_from_row(r)
            for r in self._read.execute(
                f"SELECT {CLAIM_COLUMNS} FROM claims {where} ORDER BY created_at, id", args
            )
        ]


class OrderReads(_Repo):
    async def get(self, order_id: str) -> Order | None:
        found = self._select("WHERE id = ?", (order_id,))
        return found[0] if found else None

    async def for_claim(self, claim_id: str) -> Order | None:
        found = self._select("WHERE claim_id = ?", (claim_id,))
        return found[0] if found else None

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Order]:
        if not launch_ids:
            return []
        return self._select(f"WHERE launch_id {_IN_IDS}", _ids(launch_ids))

    async def in_queue(self) -> Sequence[Order]:
        return self._select("WHERE status IN ('paid', 'scheduled')", ())

    async def shipped(self) -> Sequence[tuple[str, str, int]]:
        rows = self._read.execute(
            "SELECT launch_id, sku, sum(quantity) FROM orders WHERE shipped_at IS NOT NULL"
            " GROUP BY launch_id, sku ORDER BY launch_id, sku"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def returned(self) -> Sequence[tuple[str, str, int]]:
        rows = self._read.execute(
            "SELECT launch_id, sku, sum(quantity) FROM orders"
            f" WHERE {RETURNED} GROUP BY launch_id, sku ORDER BY launch_id, sku"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = self._read.execute("SELECT launch_id, count(*) FROM orders GROUP BY 1")
        return {r[0]: r[1] for r in rows}

    async def referred(self) -> Sequence[tuple[str, str]]:
        rows = self._read.execute(
            # fans first (CROSS JOIN keeps SQLite's order): the few referred fans, then
            # each one's orders by `orders_by_fan`, not every order
            "SELECT o.id, o.fan_id FROM fans f CROSS JOIN orders o ON o.fan_id = f.id"
            " WHERE f.referred_by IS NOT NULL AND o.status != 'refunded'"
            " ORDER BY o.paid_at, o.id"
        )
        return [(r[0], r[1]) for r in rows]

    def _select(self, where: str, args: tuple[object, ...]) -> list[Order]:
        return [
            order_from_row(r)
            for r in self._read.execute(
                f"SELECT {ORDER_COLUMNS} FROM orders {where} ORDER BY paid_at, id", args
            )
        ]


class PaymentReads(_Repo):
    async def get(self, payment_id: str) -> PaymentRecord | None:
        found = self._payments("WHERE id = ?", (payment_id,))
        return found[0] if found else None

    async def of_claims(self, claim_ids: Collection[str]) -> Sequence[PaymentRecord]:
        if not claim_ids:
            return []
        return self._payments(f"WHERE claim_id {_IN_IDS}", _ids(claim_ids))

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PaymentRecord]:
        if not launch_ids:
            return []
        return self._payments(
            f"WHERE claim_id IN (SELECT id FROM claims WHERE launch_id {_IN_IDS})",
            _ids(launch_ids),
        )

    async def unsettled(self) -> Sequence[PaymentRecord]:
        return self._payments("WHERE state IN ('pending', 'authorized')", ())

    def _payments(self, where: str, args: tuple[object, ...]) -> list[PaymentRecord]:
        return [
            payment_from_row(r)
            for r in self._read.execute(
                f"SELECT {PAYMENT_COLUMNS} FROM payments {where} ORDER BY created_at, id", args
            )
        ]
