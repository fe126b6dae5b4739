"""soldout's payment records against the payment provider's own ledger, for
`reconcile.reconcile`.

The provider may hold several transactions for one payment of soldout's: money paid
outside soldout (the provider's dashboard or API) can carry a payment's reference too.
Each is read. A payment agrees with them when the money they hold (captured less
refunded) is what soldout records: its amount for a captured payment, less what its
order's part refunds gave back (and its own
transaction, when named, holds it all), nothing otherwise; when no transaction still
holds a card; and when at most one of them holds money. A double charge put right (one
of two refunded in full) agrees again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.domain.plural import count
from soldout.payments import Transaction

__all__ = ["Mismatch", "other_providers", "payment_mismatches", "stuck_payments"]


@dataclass(frozen=True, slots=True)
class Mismatch:
    # oversold | order_without_unit | order_without_payment | money_without_order |
    # payment_mismatch | refund_missing | hold_not_released | charged_twice | ...
    kind: str
    subject: str  # the id it is about
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


class _Lines:
    """The provider's transactions for one soldout payment."""

    def __init__(self, lines: list[Transaction]) -> None:
        self._lines = lines

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def held(self) -> int:
        """Captured and not refunded, over every transaction."""
        return sum(t.captured - t.refunded for t in self._lines)

    @property
    def holding(self) -> list[Transaction]:
        """The transactions that hold money now."""
        return [t for t in self._lines if t.captured > t.refunded]

    @property
    def holds(self) -> list[Transaction]:
        """The transactions that still hold an amount on a card, uncaptured."""
        return [t for t in self._lines if t.status == "authorized"]

    def own(self, reference: str | None) -> Transaction | None:
        """The transaction soldout made, when its record names it."""
        return next((t for t in self._lines if t.reference == reference), None)

    def said(self) -> str:
        """What the provider says, naming its transactions when there are several."""
        if len(self._lines) == 1:
            (t,) = self._lines
            return f"{t.status} {t.captured}/{t.refunded}"
        each = ", ".join(f"{t.reference} {t.status} {t.captured}/{t.refunded}" for t in self._lines)
        return f"{len(self._lines)} transactions: {each}"

    def also(self) -> str:
        """ " (what the provider says)" when it has several transactions, else nothing."""
        return f" ({self.said()})" if len(self._lines) > 1 else ""

    def statuses(self) -> str:
        return ", ".join(t.status for t in self._lines)


def _ledger(transactions: Sequence[Transaction]) -> dict[str, _Lines]:
    by_reference: dict[str, list[Transaction]] = {}
    for t in transactions:
        by_reference.setdefault(t.merchant_reference, []).append(t)
    return {reference: _Lines(lines) for reference, lines in by_reference.items()}


def other_providers(payments: Sequence[PaymentRecord], provider: str) -> Counter[str]:
    """How many payments each provider other than `provider` took."""
    return Counter(p.provider for p in payments if p.provider != provider)


def payment_mismatches(
    payments: Sequence[PaymentRecord],
    transactions: Sequence[Transaction],
    provider: str,
    given_back: Mapping[str, tuple[int, int]] | None = None,
) -> list[Mismatch]:
    """Payments made through another provider are not compared with this one's ledger.
    When the latest payment is one of them, this run did not read the provider the shop
    takes money with now (its settings left out): each other provider is a mismatch, so
    such a run never says "ok". Otherwise they are an earlier provider's. `given_back`:
    by claim, what its order's part refunds gave back and what one not yet confirmed
    would (the provider may have made it: either agrees)."""
    ledger = _ledger(transactions)
    given_back = given_back or {}
    latest = max(payments, key=lambda p: p.created_at, default=None)
    found = []
    if latest is not None and latest.provider != provider:
        found = [
            Mismatch(
                "provider_not_read",
                name,
                f"{count(n, 'payment')}, the latest among them, were made through {name}, whose"
                f" records this run did not read (SOLDOUT_PAYMENTS={provider}): run it"
                f" again with SOLDOUT_PAYMENTS={name} and its keys",
            )
            for name, n in sorted(other_providers(payments, provider).items())
        ]
    for payment in payments:
        if payment.provider == provider:
            parts = given_back.get(payment.claim_id, (0, 0))
            found += _compared(payment, ledger.get(payment.id), parts)
    ours = {p.id for p in payments}
    for reference, lines in ledger.items():
        if reference not in ours and lines.held > 0:
            found.append(
                Mismatch(
                    "money_without_order",
                    reference,
                    f"the provider captured {lines.held} for a payment soldout has no record of"
                    + lines.also(),
                )
            )
    return found


def _compared(
    payment: PaymentRecord, lines: _Lines | None, parts: tuple[int, int] = (0, 0)
) -> list[Mismatch]:
    """One payment of soldout's against every transaction the provider has for it, less
    its order's part refunds (`parts`: made, and not yet confirmed)."""
    if lines is None:
        if payment.state is PaymentState.CAPTURED:
            detail = f"captured {payment.amount} here, provider says nothing"
            return [Mismatch("payment_mismatch", payment.id, detail)]
        return []
    found = []
    held = lines.held
    if payment.state is PaymentState.CAPTURED:
        own = lines.own(payment.reference)
        made, unconfirmed = parts
        kept = {payment.amount - made, payment.amount - made - unconfirmed}
        if held not in kept or (own is not None and own.captured - own.refunded != held):
            less = f" less {made} refunded in part" if made else ""
            detail = f"captured {payment.amount} here{less}, provider says {lines.said()}"
            found.append(Mismatch("payment_mismatch", payment.id, detail))
    elif payment.state is PaymentState.REFUNDED:
        if held > 0:
            detail = f"refunded here, the provider still holds {held}{lines.also()}"
            found.append(Mismatch("refund_missing", payment.id, detail))
    elif held > 0:
        detail = f"the provider captured {held}, recorded as {payment.state.value}{lines.also()}"
        found.append(Mismatch("money_without_order", payment.id, detail))
    if payment.settled and lines.holds:
        detail = (
            f"the provider holds {lines.holds[0].amount} on the card, recorded as"
            f" {payment.state.value}{lines.also()}"
        )
        found.append(Mismatch("hold_not_released", payment.id, detail))
    if len(lines.holding) > 1:
        detail = (
            f"the provider holds money in {len(lines.holding)} transactions for one payment"
            f" ({lines.said()}); soldout made one"
        )
        found.append(Mismatch("charged_twice", payment.id, detail))
    return found


def stuck_payments(
    payments: Sequence[PaymentRecord],
    transactions: Sequence[Transaction],
    provider: str,
    taken_at: datetime,
    after: timedelta,
) -> list[Mismatch]:
    """Payments whose outcome soldout still does not know, long after it should have."""
    ledger = _ledger(transactions)
    found = []
    for payment in payments:
        waited = taken_at - payment.updated_at
        if payment.settled or waited <= after:
            continue
        lines = ledger.get(payment.id)
        said = lines.statuses() if lines else "nothing"
        if payment.provider != provider:
            said = f"not read ({payment.provider})"
        found.append(
            Mismatch(
                "payment_stuck",
                payment.id,
                f"{payment.state.value} for {waited.total_seconds() // 60:.0f} minutes"
                f" (claim {payment.claim_id}); the provider says {said}",
            )
        )
    return found
