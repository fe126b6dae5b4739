"""Payments as soldout records them: one record per attempt to pay a claim.

A record is made (durably) before the provider is asked, so no money can be taken without
a trace that reconciliation finds. Its state only moves forward:

    pending -> authorized -> captured -> refunded
    pending -> declined | failed | refunded (the money came back before it was used)
    failed -> refunded (money that reached an attempt given up went back)
    failed -> pending, only for an attempt that never reached the provider (`reopen`)

A provider's webhook that would move a record backwards (out of order, or a replay) is
ignored; `advance` is the only way a state changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["NEVER_ASKED", "PaymentRecord", "PaymentState", "request_fingerprint"]

NEVER_ASKED = "soldout stopped before the payment reached the provider; nothing was charged"


class PaymentState(StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    DECLINED = "declined"
    FAILED = "failed"
    REFUNDED = "refunded"


_NEXT: dict[PaymentState, frozenset[PaymentState]] = {
    PaymentState.PENDING: frozenset(
        {
            PaymentState.AUTHORIZED,
            PaymentState.DECLINED,
            PaymentState.FAILED,
            PaymentState.REFUNDED,
        }
    ),
    PaymentState.AUTHORIZED: frozenset(
        {PaymentState.CAPTURED, PaymentState.FAILED, PaymentState.REFUNDED}
    ),
    PaymentState.CAPTURED: frozenset({PaymentState.REFUNDED}),
    PaymentState.DECLINED: frozenset(),
    PaymentState.FAILED: frozenset({PaymentState.REFUNDED}),
    PaymentState.REFUNDED: frozenset(),
}


def request_fingerprint(claim_id: str, method: str, token: str) -> str:
    """What a payment request asked for, without keeping the card token itself."""
    return hashlib.sha256(f"{claim_id}\0{method}\0{token}".encode()).hexdigest()


@dataclass(slots=True)
class PaymentRecord:
    id: str  # soldout's own reference, given to the provider
    claim_id: str
    fan_id: str
    provider: str
    method: str
    amount: int
    currency: str
    idempotency_key: str
    fingerprint: str
    created_at: datetime
    updated_at: datetime
    state: PaymentState = PaymentState.PENDING
    reference: str | None = None  # the provider's id, once it answered
    reason: str | None = None  # why it was declined, failed or refunded

    @property
    def settled(self) -> bool:
        """Its outcome is known: nothing is awaited from the provider (money that comes
        anyway for an attempt given up is refunded)."""
        return self.state not in (PaymentState.PENDING, PaymentState.AUTHORIZED)

    @property
    def never_asked(self) -> bool:
        """Failed because soldout stopped before the provider heard of it (found so at the
        next start): no money moved, and its request was never answered."""
        return self.state is PaymentState.FAILED and self.reason == NEVER_ASKED

    def reopen(self, at: datetime) -> None:
        """The fan retries an attempt that never reached the provider: it is made now,
        under the same request and provider key (nothing was charged the first time)."""
        if not self.never_asked:
            raise ValueError(f"payment {self.id} is {self.state}, not a request never made")
        self.state, self.updated_at, self.reason = PaymentState.PENDING, at, None

    def can_become(self, state: PaymentState) -> bool:
        return state in _NEXT[self.state]

    def advance(self, state: PaymentState, at: datetime, reason: str | None = None) -> bool:
        """Move forward, or return False (and change nothing) if that would go back. Money
        taken or held has no reason: one left from before (the provider slow to answer)
        goes."""
        if state not in _NEXT[self.state]:
            return False
        self.state, self.updated_at = state, at
        if reason is not None or state in (PaymentState.AUTHORIZED, PaymentState.CAPTURED):
            self.reason = reason
        return True
