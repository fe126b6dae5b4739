"""What an e-mail looks up when it is written: the launch's title, the SKU's name, the
order as it stands. A notification's `data` names things by id (it was written in the
transaction of the change, which should not pay for a presentation); the e-mail reads
them at sending time, so it tells the fan the state of things now (a claim paid since is
not "still held", a launch moved since opens at its new time).

`Facts` is the narrow port the letters read; `EngineFacts` answers from the running
engine's memory (`warm` reads an archived launch's claim or order back first; a refunded
order's reason is read from its history).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from soldout.domain.claims import Claim, Order
from soldout.domain.errors import NotFound
from soldout.domain.launches import Launch
from soldout.domain.payments import PaymentRecord
from soldout.domain.products import Product
from soldout.engine import SaleEngine

__all__ = ["EngineFacts", "Facts"]


class Facts(Protocol):
    def launch(self, launch_id: str) -> Launch | None: ...
    def product(self, launch_id: str) -> Product | None: ...
    def claim(self, claim_id: str) -> Claim | None: ...
    def order(self, order_id: str) -> Order | None: ...
    def payment(self, claim_id: str, payment_id: str) -> PaymentRecord | None: ...
    def bought(self, fan_id: str, launch_id: str) -> bool:
        """Whether the fan has an order in the launch still to ship."""

    def backups_waiting(self, launch_id: str, sku: str) -> int | None:
        """How many fans on a drawn launch's backup list for `sku` still wait for a unit
        (0: a unit let go now passes to nobody); None where the launch keeps no lists
        (not drawn yet, not a draw, or archived)."""

    def has_units(self, fan_id: str, launch_id: str) -> bool:
        """Whether the fan holds units of the launch or paid for some (not given back)."""

    async def refund_reason(self, order_id: str) -> str | None: ...
    async def warm(self, data: Mapping[str, Any]) -> None:
        """Before a letter is written: the claim and order its notification names are at
        hand (an archived launch's are read back), so the sync reads above find them."""


class EngineFacts:
    def __init__(self, engine: SaleEngine) -> None:
        self._engine = engine

    def launch(self, launch_id: str) -> Launch | None:
        try:
            return self._engine.book(launch_id).launch
        except NotFound:
            return None

    def product(self, launch_id: str) -> Product | None:
        try:
            return self._engine.book(launch_id).product
        except NotFound:
            return None

    def claim(self, claim_id: str) -> Claim | None:
        return self._engine.ledger.find(claim_id)

    def order(self, order_id: str) -> Order | None:
        return self._engine.orders.get(order_id)

    def payment(self, claim_id: str, payment_id: str) -> PaymentRecord | None:
        return next(
            (p for p in self._engine.checkout.payments_of(claim_id) if p.id == payment_id), None
        )

    async def warm(self, data: Mapping[str, Any]) -> None:
        claim_id, order_id = data.get("claim_id"), data.get("order_id")
        if isinstance(claim_id, str):
            await self._engine.claim_by_id(claim_id)
        if isinstance(order_id, str):
            await self._engine.order(order_id)

    def bought(self, fan_id: str, launch_id: str) -> bool:
        orders = self._engine.orders.of_launch(launch_id)
        return any(o.fan_id == fan_id and o.in_queue for o in orders)

    def backups_waiting(self, launch_id: str, sku: str) -> int | None:
        try:
            lists = self._engine.book(launch_id).backups
        except NotFound:
            return None
        return None if lists is None else lists.waiting_count(sku)

    def has_units(self, fan_id: str, launch_id: str) -> bool:
        try:
            return self._engine.book(launch_id).fan_units.get(fan_id, 0) > 0
        except NotFound:
            return False

    async def refund_reason(self, order_id: str) -> str | None:
        events = await self._engine.store.orders.events(order_id)
        refunds = [e for e in events if e.kind == "refunded"]
        if not refunds:
            return None
        _, _, reason = refunds[-1].detail.partition(": ")
        return reason or None
