"""Priority codes: one-time codes that guarantee their holder a unit set aside from the batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["PriorityCode"]


@dataclass(slots=True)
class PriorityCode:
    code: str
    launch_id: str
    sku: str
    created_at: datetime
    redeemed_by_claim: str | None = None

    @property
    def is_spent(self) -> bool:
        return self.redeemed_by_claim is not None
