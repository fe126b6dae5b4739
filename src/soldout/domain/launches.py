"""Launches: one sale event of a product, its rules and its life cycle.

Life cycle: draft -> scheduled -> reservations_open -> on_sale -> sold_out | closed.
`phase()` derives everything but `sold_out` from the launch and the time; the engine adds
`sold_out` from its counters, and a sold-out launch is `on_sale` again as soon as a unit
comes back while the sale window is open.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from soldout.domain.errors import InvalidInput

__all__ = ["Launch", "LaunchRules", "Mode", "Phase", "Status", "check_schedule"]

MAX_PAYMENT_WINDOW = 7 * 24 * 3600
MAX_BATCH = 10_000_000


class Mode(StrEnum):
    FIRST_COME = "first_come"
    DRAW = "draw"


class Phase(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RESERVATIONS_OPEN = "reservations_open"
    ON_SALE = "on_sale"
    CLOSED = "closed"


class Status(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RESERVATIONS_OPEN = "reservations_open"
    ON_SALE = "on_sale"
    SOLD_OUT = "sold_out"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class LaunchRules:
    mode: Mode = Mode.FIRST_COME
    reservation_required: bool = False
    per_fan_limit: int = 1
    payment_window_seconds: int = 900

    def __post_init__(self) -> None:
        if self.mode is not Mode.FIRST_COME:
            raise InvalidInput("only mode 'first_come' is available in this version", field="mode")
        if not 1 <= self.per_fan_limit <= 1000:
            raise InvalidInput("per_fan_limit must be between 1 and 1000", field="per_fan_limit")
        if not 10 <= self.payment_window_seconds <= MAX_PAYMENT_WINDOW:
            raise InvalidInput(
                f"payment_window_seconds must be between 10 and {MAX_PAYMENT_WINDOW}",
                field="payment_window_seconds",
            )


def check_schedule(
    reservations_open_at: datetime | None, sale_opens_at: datetime, sale_closes_at: datetime | None
) -> None:
    if reservations_open_at is not None and reservations_open_at > sale_opens_at:
        raise InvalidInput(
            "reservations must open before the sale opens", field="reservations_open_at"
        )
    if sale_closes_at is not None and sale_closes_at <= sale_opens_at:
        raise InvalidInput("the sale must close after it opens", field="sale_closes_at")


def check_batch(batch: dict[str, int], sku_codes: set[str]) -> None:
    if not batch:
        raise InvalidInput("a launch sells at least one SKU", field="batch")
    for code, qty in batch.items():
        if code not in sku_codes:
            raise InvalidInput(f"the product has no SKU {code!r}", field=f"batch.{code}")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 0 <= qty <= MAX_BATCH:
            raise InvalidInput(
                f"a batch is a whole number of units from 0 to {MAX_BATCH}", field=f"batch.{code}"
            )


@dataclass(frozen=True, slots=True)
class Launch:
    id: str
    product_id: str
    title: str
    sale_opens_at: datetime
    rules: LaunchRules
    batch: dict[str, int] = field(hash=False)
    created_at: datetime
    reservations_open_at: datetime | None = None
    sale_closes_at: datetime | None = None
    published: bool = True
    cancelled_at: datetime | None = None

    def phase(self, now: datetime) -> Phase:
        if self.cancelled_at is not None:
            return Phase.CLOSED
        if not self.published:
            return Phase.DRAFT
        if self.sale_closes_at is not None and now >= self.sale_closes_at:
            return Phase.CLOSED
        if now >= self.sale_opens_at:
            return Phase.ON_SALE
        if self.reservations_open_at is not None and now >= self.reservations_open_at:
            return Phase.RESERVATIONS_OPEN
        return Phase.SCHEDULED

    def with_changes(self, **changes: object) -> Launch:
        launch = replace(self, **changes)  # type: ignore[arg-type]
        check_schedule(launch.reservations_open_at, launch.sale_opens_at, launch.sale_closes_at)
        return launch
