"""The ports: one narrow interface per aggregate.

Every write returns only once it is durable: an adapter may group many writes into one
transaction (group commit), but it never resolves a write before its commit. Writes are
applied in the order they were issued, so a release that freed a unit is never durable
after the claim that took the unit again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from soldout.domain.claims import Claim, ClaimState, Order
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Fan, Reservation
from soldout.domain.launches import Launch
from soldout.domain.products import Product

__all__ = [
    "ClaimRepository",
    "CodeRepository",
    "FanRepository",
    "LaunchRepository",
    "ProductRepository",
    "ReservationRepository",
    "Store",
]


class ProductRepository(Protocol):
    async def add(self, product: Product) -> None: ...
    async def get(self, product_id: str) -> Product | None: ...
    async def all(self) -> Sequence[Product]: ...


class LaunchRepository(Protocol):
    async def add(self, launch: Launch) -> None: ...
    def update(self, launch: Launch) -> asyncio.Future[None]:
        """Queued at once (not when awaited), like the claim writes below: writes queued
        in the same tick of the event loop commit in one transaction, in order."""

    async def all(self) -> Sequence[Launch]: ...


class FanRepository(Protocol):
    async def add(self, fan: Fan) -> None:
        """Raise `soldout.domain.errors.Conflict` (code `email_taken`) on a duplicate e-mail."""

    async def get(self, fan_id: str) -> Fan | None: ...
    async def by_referral_code(self, code: str) -> Fan | None: ...


class ReservationRepository(Protocol):
    def add(self, reservation: Reservation) -> asyncio.Future[None]:
        """Queued at once; a repeated reservation waits on the same future."""

    async def all(self) -> Sequence[Reservation]: ...


class ClaimRepository(Protocol):
    def add(self, claim: Claim) -> asyncio.Future[None]:
        """Record a new held claim; a claim with a priority code also spends the code.

        Returns the future of its durability rather than a coroutine: the hot path awaits
        it shielded, and replays of the same request await the same future."""

    def settle(self, claim_id: str, paid_at: datetime, order: Order) -> asyncio.Future[None]:
        """Mark the claim paid and record its order, in one transaction. Queued at once:
        the payment awaits it shielded, so a cancelled request cannot half-undo it."""

    def release_many(
        self, claim_ids: Iterable[str], state: ClaimState, at: datetime
    ) -> asyncio.Future[None]:
        """Queued at once, so a release is never durable after a later claim."""

    async def all(self) -> Sequence[Claim]: ...
    async def orders(self) -> Sequence[Order]: ...
    async def orders_for_fan(self, fan_id: str) -> Sequence[Order]: ...


class CodeRepository(Protocol):
    async def add_many(self, codes: Sequence[PriorityCode]) -> None: ...
    async def all(self) -> Sequence[PriorityCode]: ...


class Store(Protocol):
    @property
    def products(self) -> ProductRepository: ...
    @property
    def launches(self) -> LaunchRepository: ...
    @property
    def fans(self) -> FanRepository: ...
    @property
    def reservations(self) -> ReservationRepository: ...
    @property
    def claims(self) -> ClaimRepository: ...
    @property
    def codes(self) -> CodeRepository: ...

    async def secret(self, name: str) -> bytes:
        """A random 32-byte secret kept with the data (made on first use). The token
        signing key lives here, so a token is only ever valid for the data it was made
        for: a fresh database invalidates every old token."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
