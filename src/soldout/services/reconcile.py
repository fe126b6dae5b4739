"""Reconciliation: orders against payments against stock, from the record alone.

Reads what is durable (the store and the payment provider's ledger) and reports every
mismatch in words. It changes nothing: a mismatch is for a person to look at. A payment
still pending long after soldout should have settled it (its check asks the provider
every 30 s about payments pending for a minute) is one: its webhook was lost and the
provider could not be asked, and the fan may have paid for a claim that then expired.

    mismatches = reconcile(await Snapshot.read(store, provider))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from soldout.clock import Clock, SystemClock
from soldout.domain.claims import Claim, ClaimState, Order, OrderStatus
from soldout.domain.codes import PriorityCode
from soldout.domain.launches import Launch
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.domain.plural import count
from soldout.payments import PaymentProvider, Transaction
from soldout.services.reconcile_payments import (
    Mismatch,
    other_providers,
    payment_mismatches,
    stuck_payments,
)
from soldout.settings import Settings
from soldout.store.ports import Store

__all__ = ["PENDING_TOO_LONG", "Mismatch", "Snapshot", "reconcile", "run_reconciliation"]

PENDING_TOO_LONG = timedelta(minutes=15)  # a payment pending longer is reported


@dataclass(frozen=True, slots=True)
class Snapshot:
    launches: Sequence[Launch]
    claims: Sequence[Claim]
    codes: Sequence[PriorityCode]
    orders: Sequence[Order]
    payments: Sequence[PaymentRecord]
    transactions: Sequence[Transaction]
    taken_at: datetime  # when it was read: how long a pending payment has waited
    provider: str  # whose records `transactions` are (SOLDOUT_PAYMENTS)

    @classmethod
    async def read(
        cls, store: Store, provider: PaymentProvider, clock: Clock | None = None
    ) -> Snapshot:
        """The store's record, and the provider's payments since a day before the first
        one soldout recorded (a provider's list calls page through them)."""
        taken_at = (clock or SystemClock()).now()
        payments = await store.payments.all()
        since = min((p.created_at for p in payments if p.provider == provider.name), default=None)
        return cls(
            await store.launches.all(),
            await store.claims.all(),
            await store.codes.all(),
            await store.orders.all(),
            payments,
            await provider.transactions(since - timedelta(days=1) if since else None),
            taken_at,
            provider.name,
        )


def reconcile(s: Snapshot, pending_after: timedelta = PENDING_TOO_LONG) -> list[Mismatch]:
    """Every mismatch in `s`; a payment pending for longer than `pending_after` is one."""
    return [
        *_stock(s),
        *_keys(s),
        *_orders(s),
        *payment_mismatches(s.payments, s.transactions, s.provider, _given_back(s.orders)),
        *stuck_payments(s.payments, s.transactions, s.provider, s.taken_at, pending_after),
    ]


def _given_back(orders: Sequence[Order]) -> dict[str, tuple[int, int]]:
    """By claim: what each order's part refunds gave back, and what one the provider has
    not confirmed would."""
    return {
        o.claim_id: (o.parts_refunded, sum(r.amount for r in o.refunds if not r.done))
        for o in orders
        if o.refunds
    }


def _keys(s: Snapshot) -> list[Mismatch]:
    """One claim per fan, launch and Idempotency-Key (the engine's rule; the store does
    not enforce it, see migration 0005)."""
    per_key = Counter((c.fan_id, c.launch_id, c.idempotency_key) for c in s.claims)
    return [
        Mismatch(
            "duplicate_claim_key",
            fan_id,
            f"{n} claims for Idempotency-Key {key!r} on launch {launch_id}",
        )
        for (fan_id, launch_id, key), n in per_key.items()
        if n > 1
    ]


def _stock(s: Snapshot) -> list[Mismatch]:
    """held + paid + set aside <= batch, per launch and SKU (units of refunded, unshipped
    orders are back in the pool: their claims are cancelled)."""
    used: Counter[tuple[str, str]] = Counter()
    for claim in s.claims:
        if claim.state in (ClaimState.HELD, ClaimState.PAID):
            used[(claim.launch_id, claim.sku)] += claim.quantity
    for code in s.codes:
        if not code.is_spent:
            used[(code.launch_id, code.sku)] += 1
    found = []
    for launch in s.launches:
        for sku, batch in launch.batch.items():
            if used[(launch.id, sku)] > batch:
                found.append(
                    Mismatch(
                        "oversold",
                        f"{launch.id}/{sku}",
                        f"{used[(launch.id, sku)]} units held, paid or set aside of {batch}",
                    )
                )
    return found


def _orders(s: Snapshot) -> list[Mismatch]:
    claims = {c.id: c for c in s.claims}
    captured = {p.claim_id: p for p in s.payments if p.state is PaymentState.CAPTURED}
    refunded = {p.claim_id: p for p in s.payments if p.state is PaymentState.REFUNDED}
    found = []
    per_claim = Counter(o.claim_id for o in s.orders)
    for claim_id, n in per_claim.items():
        if n > 1:
            found.append(Mismatch("duplicate_order", claim_id, f"{n} orders for one claim"))
    for order in s.orders:
        claim = claims.get(order.claim_id)
        if claim is None:
            found.append(Mismatch("order_without_claim", order.id, f"claim {order.claim_id}"))
            continue
        unshipped_refund = order.status is OrderStatus.REFUNDED and order.shipped_at is None
        want = ClaimState.CANCELLED if unshipped_refund else ClaimState.PAID
        if claim.state is not want:
            found.append(
                Mismatch(
                    "order_without_unit",
                    order.id,
                    f"order is {order.status.value} but its claim is {claim.state.value}",
                )
            )
        if order.total != claim.total_amount or order.currency != claim.currency:
            found.append(
                Mismatch("wrong_total", order.id, f"{order.total} vs claim {claim.total_amount}")
            )
        if order.status is OrderStatus.REFUNDED:
            if order.claim_id not in refunded:
                found.append(
                    Mismatch("refund_not_recorded", order.id, "order refunded, payment is not")
                )
        elif order.claim_id not in captured:
            found.append(
                Mismatch("order_without_payment", order.id, "no captured payment on record")
            )
    for claim in s.claims:
        if claim.state is ClaimState.PAID and per_claim[claim.id] == 0:
            found.append(Mismatch("paid_claim_without_order", claim.id, "claim paid, no order"))
    return found


def elsewhere(s: Snapshot) -> Counter[str]:
    """How many payments each provider other than the one read took."""
    return other_providers(s.payments, s.provider)


async def run_reconciliation(
    settings: Settings, pending_after: timedelta = PENDING_TOO_LONG
) -> tuple[list[str], bool]:
    """`soldout reconcile`: read the store and the configured provider's records, report."""
    from soldout.payments.configured import configured_provider
    from soldout.store.postgresql import PostgresStore
    from soldout.store.sqlite import SqliteStore

    url = settings.postgres_url
    store = PostgresStore(url) if url is not None else SqliteStore(settings.database)
    await store.open_read_only()
    provider, _ = configured_provider(settings, read_only=True)  # creates and writes nothing
    try:
        snapshot = await Snapshot.read(store, provider)
    finally:
        await provider.close()
        await store.close()
    found = reconcile(snapshot, pending_after)
    summary = (
        f"checked {count(len(snapshot.orders), 'order')},"
        f" {count(len(snapshot.payments), 'payment')}, {count(len(snapshot.claims), 'claim')},"
        f" {count(len(snapshot.transactions), 'provider transaction')}"
        f" in {count(len(snapshot.launches), 'launch', 'launches')}"
    )
    if others := elsewhere(snapshot):
        summary += "; not read: " + ", ".join(
            f"{count(n, 'payment')} through {name}" for name, n in sorted(others.items())
        )
    lines = [summary, *(str(m) for m in found)]
    lines.append("ok: no mismatch" if not found else f"{len(found)} mismatches")
    return lines, not found
