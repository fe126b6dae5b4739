"""Priority codes: one-time codes that guarantee their holder a unit set aside from the batch.

A code is for one SKU, or for any SKU of the launch (`any_sku`): then a unit of the SKU
that had the most units open at issue time is set aside, and redeeming the code for
another SKU takes an open unit of that SKU and gives the set-aside one back to the open
pool. Whatever shows a code shows an any-SKU one as for any SKU (`for_sku` is None), never
as the SKU its unit happens to be set aside from. An unredeemed code stops working at
`expires_at`, and its unit goes back on sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from soldout.domain.errors import Conflict, DomainError

__all__ = ["PriorityCode", "too_few_to_set_aside"]


@dataclass(slots=True)
class PriorityCode:
    code: str
    launch_id: str
    sku: str  # the SKU whose unit is set aside for it
    created_at: datetime
    redeemed_by_claim: str | None = None
    expires_at: datetime | None = None
    any_sku: bool = False
    granted_to: str | None = None  # the fan it was granted to by a referral rule, if any

    @property
    def is_spent(self) -> bool:
        return self.redeemed_by_claim is not None

    @property
    def for_sku(self) -> str | None:
        """The SKU the code was issued for; None for any SKU (its `sku` then only says
        where its set-aside unit sits, which is no promise to the fan)."""
        return None if self.any_sku else self.sku

    @property
    def redeemed_sku(self) -> str | None:
        """The SKU it bought, once redeemed (an any-SKU code's: the one the fan chose)."""
        return self.sku if self.is_spent else None

    def is_expired(self, now: datetime) -> bool:
        return not self.is_spent and self.expires_at is not None and now >= self.expires_at

    def holds_unit(self, now: datetime) -> bool:
        """Whether a unit is set aside for it right now."""
        return not self.is_spent and not self.is_expired(now)


def too_few_to_set_aside(open_units: int | str | bytes) -> DomainError:
    """Codes asked for more units than are open: `insufficient_stock`, in words."""
    n = int(open_units)
    what = "no unit is" if n == 0 else "only 1 unit is" if n == 1 else f"only {n} units are"
    return Conflict(f"{what} open to set aside", field="count").with_code("insufficient_stock")
