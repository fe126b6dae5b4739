"""An in-memory store for unit tests: the same ports, dicts behind them, durable at once.

`InMemoryStore.crash_copy()` gives a new store holding what was written, to test that the
engine rebuilds from the record after a restart.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.codes import PriorityCode
from soldout.domain.errors import Conflict
from soldout.domain.fans import Fan, Reservation
from soldout.domain.launches import Launch
from soldout.domain.products import Product

__all__ = ["InMemoryStore"]


def _done() -> asyncio.Future[None]:
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class _Products:
    def __init__(self) -> None:
        self.rows: dict[str, Product] = {}

    async def add(self, product: Product) -> None:
        self.rows[product.id] = product

    async def get(self, product_id: str) -> Product | None:
        return self.rows.get(product_id)

    async def all(self) -> Sequence[Product]:
        return list(self.rows.values())


class _Launches:
    def __init__(self) -> None:
        self.rows: dict[str, Launch] = {}

    async def add(self, launch: Launch) -> None:
        self.rows[launch.id] = replace(launch, batch=dict(launch.batch))

    def update(self, launch: Launch) -> asyncio.Future[None]:
        self.rows[launch.id] = replace(launch, batch=dict(launch.batch))
        return _done()

    async def all(self) -> Sequence[Launch]:
        return [replace(launch, batch=dict(launch.batch)) for launch in self.rows.values()]


class _Fans:
    def __init__(self) -> None:
        self.rows: dict[str, Fan] = {}

    async def add(self, fan: Fan) -> None:
        if any(f.email == fan.email for f in self.rows.values()):
            raise Conflict("a fan with this e-mail is registered", field="email").with_code(
                "email_taken"
            )
        self.rows[fan.id] = fan

    async def get(self, fan_id: str) -> Fan | None:
        return self.rows.get(fan_id)

    async def by_referral_code(self, code: str) -> Fan | None:
        return next((f for f in self.rows.values() if f.referral_code == code), None)


class _Reservations:
    def __init__(self) -> None:
        self.rows: list[Reservation] = []

    def add(self, reservation: Reservation) -> asyncio.Future[None]:
        self.rows.append(reservation)
        return _done()

    async def all(self) -> Sequence[Reservation]:
        return list(self.rows)


class _Claims:
    def __init__(self, codes: _Codes) -> None:
        self.rows: dict[str, Claim] = {}
        self.order_rows: dict[str, Order] = {}
        self._codes = codes

    def add(self, claim: Claim) -> asyncio.Future[None]:
        self.rows[claim.id] = copy.copy(claim)
        if claim.priority_code is not None:
            self._codes.rows[claim.priority_code].redeemed_by_claim = claim.id
        return _done()

    def settle(self, claim_id: str, paid_at: datetime, order: Order) -> asyncio.Future[None]:
        row = self.rows[claim_id]
        if row.state is ClaimState.HELD:
            row.state, row.closed_at = ClaimState.PAID, paid_at
        self.order_rows[order.id] = order
        return _done()

    def release_many(
        self, claim_ids: Iterable[str], state: ClaimState, at: datetime
    ) -> asyncio.Future[None]:
        for claim_id in claim_ids:
            row = self.rows[claim_id]
            if row.state is ClaimState.HELD:
                row.state, row.closed_at = state, at
        return _done()

    async def all(self) -> Sequence[Claim]:
        return [copy.copy(c) for c in self.rows.values()]

    async def orders(self) -> Sequence[Order]:
        return list(self.order_rows.values())

    async def orders_for_fan(self, fan_id: str) -> Sequence[Order]:
        return [o for o in self.order_rows.values() if o.fan_id == fan_id]


class _Codes:
    def __init__(self) -> None:
        self.rows: dict[str, PriorityCode] = {}

    async def add_many(self, codes: Sequence[PriorityCode]) -> None:
        for code in codes:
            self.rows[code.code] = copy.copy(code)

    async def all(self) -> Sequence[PriorityCode]:
        return [copy.copy(c) for c in self.rows.values()]


class InMemoryStore:
    def __init__(self) -> None:
        self.products = _Products()
        self.launches = _Launches()
        self.fans = _Fans()
        self.reservations = _Reservations()
        self.codes = _Codes()
        self.claims = _Claims(self.codes)
        self.secrets: dict[str, bytes] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def secret(self, name: str) -> bytes:
        return self.secrets.setdefault(name, secrets.token_bytes(32))

    def crash_copy(self) -> InMemoryStore:
        """What a restarted process would find: a deep copy of everything written."""
        return copy.deepcopy(self)
