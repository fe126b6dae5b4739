"""The in-memory store's targeted reads of the sale's records (`get`, `of_launches`,
`for_fan`, `of_claims`, `in_queue`, `unsettled`, `tally`, ...): mixed into its
repositories in `memory_catalogue.py` and `memory_sale.py`, over the same dicts. Claims,
orders and payments come sorted as the databases sort them (by their time as ISO text,
then id); reservations and codes in the order of writing, as their `all()`. What is
returned is a copy: changing it changes nothing stored."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from soldout.domain.claims import Claim, ClaimState, Order, OrderStatus
from soldout.domain.codes import PriorityCode
from soldout.domain.fans import Fan, Reservation
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.store.ports import ClaimTally

__all__ = ["ClaimReads", "CodeReads", "OrderReads", "PaymentReads", "ReservationReads"]

_UNSETTLED = (PaymentState.PENDING, PaymentState.AUTHORIZED)


class ReservationReads:
    rows: list[Reservation]

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Reservation]:
        wanted = set(launch_ids)
        return [r for r in self.rows if r.launch_id in wanted]

    async def for_fan(self, fan_id: str) -> Sequence[Reservation]:
        return [r for r in self.rows if r.fan_id == fan_id]

    async def counts(self) -> dict[str, int]:
        return dict(Counter(r.launch_id for r in self.rows))


class CodeReads:
    rows: dict[str, PriorityCode]

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PriorityCode]:
        wanted = set(launch_ids)
        return [copy.copy(c) for c in self.rows.values() if c.launch_id in wanted]


def _claims_in_order(claims: Iterable[Claim]) -> list[Claim]:
    return [copy.copy(c) for c in sorted(claims, key=lambda c: (c.created_at.isoformat(), c.id))]


class ClaimReads:
    rows: dict[str, Claim]

    async def get(self, claim_id: str) -> Claim | None:
        found = self.rows.get(claim_id)
        return copy.copy(found) if found is not None else None

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Claim]:
        wanted = set(launch_ids)
        return _claims_in_order(c for c in self.rows.values() if c.launch_id in wanted)

    async def for_fan(self, fan_id: str) -> Sequence[Claim]:
        return _claims_in_order(c for c in self.rows.values() if c.fan_id == fan_id)

    async def tally(self) -> Sequence[ClaimTally]:
        claims: Counter[tuple[str, str, ClaimState]] = Counter()
        units: Counter[tuple[str, str, ClaimState]] = Counter()
        for c in self.rows.values():
            key = (c.launch_id, c.sku, c.state)
            claims[key] += 1
            units[key] += c.quantity
        return [
            ClaimTally(*key, claims[key], units[key])
            for key in sorted(claims, key=lambda k: (k[0], k[1], k[2].value))
        ]


class OrderReads:
    rows: dict[str, Order]

    @property
    def fan_rows(self) -> dict[str, Fan]:
        """The store's fans (who referred whom)."""
        raise NotImplementedError

    async def get(self, order_id: str) -> Order | None:
        found = self.rows.get(order_id)
        return copy.copy(found) if found is not None else None

    async def for_claim(self, claim_id: str) -> Order | None:
        found = next((o for o in self.rows.values() if o.claim_id == claim_id), None)
        return copy.copy(found) if found is not None else None

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[Order]:
        wanted = set(launch_ids)
        return _orders_in_order(o for o in self.rows.values() if o.launch_id in wanted)

    async def in_queue(self) -> Sequence[Order]:
        return _orders_in_order(o for o in self.rows.values() if o.in_queue)

    async def shipped(self) -> Sequence[tuple[str, str, int]]:
        units: Counter[tuple[str, str]] = Counter()
        for o in self.rows.values():
            if o.shipped_at is not None:
                units[(o.launch_id, o.sku)] += o.quantity
        return [(*key, units[key]) for key in sorted(units)]

    async def returned(self) -> Sequence[tuple[str, str, int]]:
        units: Counter[tuple[str, str]] = Counter()
        for o in self.rows.values():
            if o.shipped_at is not None and o.status is OrderStatus.REFUNDED:
                units[(o.launch_id, o.sku)] += o.quantity
        return [(*key, units[key]) for key in sorted(units)]

    async def counts(self) -> dict[str, int]:
        return dict(Counter(o.launch_id for o in self.rows.values()))

    async def referred(self) -> Sequence[tuple[str, str]]:
        fans = self.fan_rows
        return [
            (o.id, o.fan_id)
            for o in _orders_in_order(self.rows.values())
            if o.status is not OrderStatus.REFUNDED
            and (fan := fans.get(o.fan_id)) is not None
            and fan.referred_by is not None
        ]


def _orders_in_order(orders: Iterable[Order]) -> list[Order]:
    """By payment time then id, as `all()`."""
    return [copy.copy(o) for o in sorted(orders, key=lambda o: (o.paid_at.isoformat(), o.id))]


class PaymentReads:
    rows: dict[str, PaymentRecord]
    claim_rows: dict[str, Claim]  # the store's claims (a payment's launch is its claim's)

    async def get(self, payment_id: str) -> PaymentRecord | None:
        found = self.rows.get(payment_id)
        return copy.copy(found) if found is not None else None

    async def of_claims(self, claim_ids: Collection[str]) -> Sequence[PaymentRecord]:
        wanted = set(claim_ids)
        return _payments_in_order(p for p in self.rows.values() if p.claim_id in wanted)

    async def of_launches(self, launch_ids: Collection[str]) -> Sequence[PaymentRecord]:
        wanted = set(launch_ids)
        return _payments_in_order(
            p
            for p in self.rows.values()
            if (claim := self.claim_rows.get(p.claim_id)) is not None and claim.launch_id in wanted
        )

    async def unsettled(self) -> Sequence[PaymentRecord]:
        return _payments_in_order(p for p in self.rows.values() if p.state in _UNSETTLED)


def _payments_in_order(payments: Iterable[PaymentRecord]) -> list[PaymentRecord]:
    return [copy.copy(p) for p in sorted(payments, key=lambda p: (p.created_at.isoformat(), p.id))]
