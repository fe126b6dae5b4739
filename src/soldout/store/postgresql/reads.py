"""The PostgreSQL adapter's targeted reads of the sale's records (`get`, `of_launches`,
`for_fan`, `of_claims`, `in_queue`, `unsettled`, `tally`), inherited by the repositories
of `repos.py` and `after_sale.py`: the SQLite adapter's (`store/sqlite/reads.py`), with a
collection of ids sent as one text array (`= ANY(%b::text[])`: one statement however
many ids, walking the column's index once per id; migration 0002)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.payments import PaymentRecord
from soldout.store.ports import ClaimTally
from soldout.store.postgresql.base import Repo
from soldout.store.rows import CLAIM_COLUMNS, claim_from_row, code_from_row, reservation_from_row
from soldout.store.rows_after_sale import (
    ORDER_COLUMNS,
    PAYMENT_COLUMNS,
    RETURNED,
    order_from_row,
    payment_from_row,
)

__all__ = ["ClaimReads", "CodeReads", "OrderReads", "PaymentReads", "ReservationReads"]

_ANY_ID = "= ANY(%b::text[])"


class ReservationReads(Repo):
    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Reservation]:
        if not launch_ids:
            return []
        rows = await self._rows(
            f"SELECT * FROM reservations WHERE launch_id {_ANY_ID} ORDER BY created_at, id",
            (list(launch_ids),),
        )
        return [reservation_from_row(r) for r in rows]

    async def for_fan(self, fan_id: str) -> Sequence[Reservation]:
        rows = await self._rows(
            "SELECT * FROM reservations WHERE fan_id = %b ORDER BY created_at, id", (fan_id,)
        )
        return [reservation_from_row(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self._rows(
            "SELECT launch_id, count(*) AS n FROM reservations GROUP BY launch_id", ()
        )
        return {r["launch_id"]: int(r["n"]) for r in rows}


class CodeReads(Repo):
    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PriorityCode]:
        if not launch_ids:
            return []
        rows = await self._rows(
            f"SELECT * FROM priority_codes WHERE launch_id {_ANY_ID} ORDER BY created_at, code",
            (list(launch_ids),),
        )
        return [code_from_row(r) for r in rows]


class ClaimReads(Repo):
    async def get(self, claim_id: str) -> Claim | None:
        found = await self._claims("WHERE id = %b", (claim_id,))
        return found[0] if found else None

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Claim]:
        if not launch_ids:
            return []
        return await self._claims(f"WHERE launch_id {_ANY_ID}", (list(launch_ids),))

    async def for_fan(self, fan_id: str) -> Sequence[Claim]:
        return await self._claims("WHERE fan_id = %b", (fan_id,))

    async def tally(self) -> Sequence[ClaimTally]:
        rows = await self._rows(
            "SELECT launch_id, sku, state, count(*) AS claims, sum(quantity) AS units"
            " FROM claims GROUP BY launch_id, sku, state ORDER BY launch_id, sku, state"
        )
        return [  # sum() of bigint is numeric: a Decimal
            ClaimTally(
                r["launch_id"], r["sku"], ClaimState(r["state"]), r["claims"], int(r["units"])
            )
            for r in rows
        ]

    async def _claims(self, where: str, args: tuple[object, ...]) -> list[Claim]:
        rows = await self._rows(
            f"SELECT {CLAIM_COLUMNS} FROM claims {where} ORDER BY created_at, id", args
        )
        return [claim_from_row(r) for r in rows]


class OrderReads(Repo):
    async def get(self, order_id: str) -> Order | None:
        found = await self._select("WHERE id = %b", (order_id,))
        return found[0] if found else None

    async def for_claim(self, claim_id: str) -> Order | None:
        found = await self._select("WHERE claim_id = %b", (claim_id,))
        return found[0] if found else None

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Order]:
        if not launch_ids:
            return []
        return await self._select(f"WHERE launch_id {_ANY_ID}", (list(launch_ids),))

    async def in_queue(self) -> Sequence[Order]:
        return await self._select("WHERE status IN ('paid', 'scheduled')", ())

    async def shipped(self) -> Sequence[tuple[str, str, int]]:
        rows = await self._rows(
            "SELECT launch_id, sku, sum(quantity) AS units FROM orders"
            " WHERE shipped_at IS NOT NULL GROUP BY launch_id, sku ORDER BY launch_id, sku",
            (),
        )
        return [(r["launch_id"], r["sku"], int(r["units"])) for r in rows]

    async def returned(self) -> Sequence[tuple[str, str, int]]:
        rows = await self._rows(
            "SELECT launch_id, sku, sum(quantity) AS units FROM orders"
            f" WHERE {RETURNED} GROUP BY launch_id, sku ORDER BY launch_id, sku",
            (),
        )
        return [(r["launch_id"], r["sku"], int(r["units"])) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self._rows(
            "SELECT launch_id, count(*) AS n FROM orders GROUP BY launch_id", ()
        )
        return {r["launch_id"]: int(r["n"]) for r in rows}

    async def referred(self) -> Sequence[tuple[str, str]]:
        rows = await self._rows(
            "SELECT o.id, o.fan_id FROM orders o JOIN fans f ON f.id = o.fan_id"
            " WHERE f.referred_by IS NOT NULL AND o.status != 'refunded'"
            " ORDER BY o.paid_at, o.id",
            (),
        )
        return [(r["id"], r["fan_id"]) for r in rows]

    async def _select(self, where: str, args: tuple[object, ...]) -> list[Order]:
        rows = await self._rows(
            f"SELECT {ORDER_COLUMNS} FROM orders {where} ORDER BY paid_at, id", args
        )
        return [order_from_row(r) for r in rows]


class PaymentReads(Repo):
    async def get(self, payment_id: str) -> PaymentRecord | None:
        found = await self._payments("WHERE id = %b", (payment_id,))
        return found[0] if found else None

    async def of_claims(self, claim_ids: Collection[str]) -> Sequence[PaymentRecord]:
        if not claim_ids:
            return []
        return await self._payments(f"WHERE claim_id {_ANY_ID}", (list(claim_ids),))

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PaymentRecord]:
        if not launch_ids:
            return []
        return await self._payments(
            f"WHERE claim_id IN (SELECT id FROM claims WHERE launch_id {_ANY_ID})",
            (list(launch_ids),),
        )

    async def unsettled(self) -> Sequence[PaymentRecord]:
        return await self._payments("WHERE state IN ('pending', 'authorized')", ())

    async def _payments(self, where: str, args: tuple[object, ...]) -> list[PaymentRecord]:
        rows = await self._rows(
            f"SELECT {PAYMENT_COLUMNS} FROM payments {where} ORDER BY created_at, id", args
        )
        return [payment_from_row(r) for r in rows]
