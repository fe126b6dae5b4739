"""Part of an order's money given back while the order stands (a scratched unit, a late
delivery): the order keeps its unit and keeps shipping.

A part refund is written on its order before the provider is asked (`done_at` None), so
a retry after a crash finds it and asks again under the same id, from which the
provider's idempotency key is derived: it never refunds twice. Amounts are minor units of
the order's currency, as every amount in soldout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["PartRefund", "part_refunds_from_json", "part_refunds_json"]


@dataclass(frozen=True, slots=True)
class PartRefund:
    id: str  # soldout's own; the provider's idempotency key is derived from it
    key: str  # the caller's Idempotency-Key: a retry under it is this refund
    amount: int  # minor units, in the order's currency
    reason: str
    asked_at: datetime
    done_at: datetime | None = None  # None: asked of the provider, its answer not recorded

    @property
    def done(self) -> bool:
        return self.done_at is not None


def part_refunds_json(refunds: Sequence[PartRefund]) -> list[dict[str, Any]] | None:
    """As kept in the order's `refunds` column (None: none, the column stays NULL)."""
    if not refunds:
        return None
    return [
        {
            "id": r.id,
            "key": r.key,
            "amount": r.amount,
            "reason": r.reason,
            "asked_at": r.asked_at.isoformat(),
            "done_at": r.done_at.isoformat() if r.done_at else None,
        }
        for r in refunds
    ]


def part_refunds_from_json(items: Sequence[dict[str, Any]] | None) -> tuple[PartRefund, ...]:
    return tuple(
        PartRefund(
            id=i["id"],
            key=i["key"],
            amount=int(i["amount"]),
            reason=i["reason"],
            asked_at=datetime.fromisoformat(i["asked_at"]),
            done_at=datetime.fromisoformat(i["done_at"]) if i["done_at"] else None,
        )
        for i in items or ()
    )
