"""The in-memory store's repositories of the catalogue and of what a launch hands out
before its sale: products, launches, reservations and priority codes (the store is in
`memory.py`)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from dataclasses import replace

from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Reservation
from soldout.domain.launches import Launch
from soldout.domain.products import Product
from soldout.store.memory_reads import CodeReads, ReservationReads
from soldout.store.memory_transaction import Journal

__all__ = ["_Codes", "_Launches", "_Products", "_Reservations"]


class _Products:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, Product] = {}
        self._journal = journal

    async def add(self, product: Product) -> None:
        self.rows[product.id] = product
        self._journal.count()

    async def update(self, product: Product) -> None:
        self.rows[product.id] = replace(product, created_at=self.rows[product.id].created_at)
        self._journal.count()

    async def get(self, product_id: str) -> Product | None:
        return self.rows.get(product_id)

    async def all(self) -> Sequence[Product]:
        return list(self.rows.values())


class _Launches:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, Launch] = {}
        self._journal = journal

    async def add(self, launch: Launch) -> None:
        self.rows[launch.id] = replace(launch, batch=dict(launch.batch))
        self._journal.count()

    def update(self, launch: Launch) -> asyncio.Future[None]:
        self.rows[launch.id] = replace(launch, batch=dict(launch.batch))
        return self._journal.done()

    async def all(self) -> Sequence[Launch]:
        return [replace(launch, batch=dict(launch.batch)) for launch in self.rows.values()]


class _Reservations(ReservationReads):
    def __init__(self, journal: Journal) -> None:
        self.rows: list[Reservation] = []
        self._journal = journal

    def add(self, reservation: Reservation) -> asyncio.Future[None]:
        self.rows.append(reservation)
        return self._journal.done()

    async def all(self) -> Sequence[Reservation]:
        return list(self.rows)


class _Codes(CodeReads):
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, PriorityCode] = {}
        self._journal = journal

    async def add_many(self, codes: Sequence[PriorityCode]) -> None:
        for code in codes:
            self.rows[code.code] = copy.copy(code)
        self._journal.count()

    async def all(self) -> Sequence[PriorityCode]:
        return [copy.copy(c) for c in self.rows.values()]
