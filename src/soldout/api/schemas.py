"""Request bodies of the FastAPI routes. Unknown fields are refused, numbers are strict."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from soldout.domain.money import MAX_MINOR_UNITS

__all__ = [
    "ClaimIn",
    "CodesIn",
    "FanIn",
    "LaunchIn",
    "LaunchPatch",
    "PaymentIn",
    "PlanIn",
    "ProductIn",
    "RefundIn",
    "ReservationIn",
    "ShipNextIn",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkuIn(_In):
    code: str = Field(min_length=1, max_length=64, examples=["M1-64-BLK"])
    name: str = Field(min_length=1, max_length=200)
    price: StrictInt = Field(ge=0, le=MAX_MINOR_UNITS, description="minor units, e.g. cents")
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    cost: StrictInt = Field(
        0, ge=0, le=MAX_MINOR_UNITS, description="minor units, same currency as price"
    )


class ProductIn(_In):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    skus: list[SkuIn] = Field(min_length=1, max_length=100)


class LaunchIn(_In):
    product_id: str
    title: str = Field(min_length=1, max_length=200)
    reservations_open_at: AwareDatetime | None = None
    sale_opens_at: AwareDatetime
    sale_closes_at: AwareDatetime | None = None
    mode: Literal["first_come", "draw"] = "first_come"
    reservation_required: StrictBool = False
    per_fan_limit: StrictInt = 1
    payment_window_seconds: StrictInt = 900
    batch: dict[str, StrictInt] = Field(description="units per SKU code")
    draft: StrictBool = Field(False, description="a draft is not visible to fans until published")
    registered_before: AwareDatetime | None = Field(
        None, description="only fans registered before this may reserve (needs reservations)"
    )
    waiting_room_rate: float | None = Field(
        None, description="a waiting room admitting this many fans per second"
    )
    waiting_room_burst: StrictInt = Field(0, description="fans admitted at once at opening")
    pow_difficulty: StrictInt | None = Field(
        None, description="proof of work per claim: leading zero bits of SHA-256"
    )
    duplicate_rule: Literal["allow", "hold", "cancel"] = Field(
        "allow", description="fans sharing an address or phone beyond the limit"
    )
    duplicate_limit: StrictInt = 2


class LaunchPatch(_In):
    title: str | None = Field(None, min_length=1, max_length=200)
    reservations_open_at: AwareDatetime | None = None
    sale_opens_at: AwareDatetime | None = None
    sale_closes_at: AwareDatetime | None = None
    batch: dict[str, StrictInt] | None = Field(None, description="new, larger batch per SKU")
    published: StrictBool | None = None
    paused: StrictBool | None = Field(None, description="pause (true) or resume (false) the sale")
    pow_difficulty: StrictInt | None = Field(
        None, description="turn proof of work on or change it mid-sale (0 turns it off)"
    )
    duplicate_rule: Literal["allow", "hold", "cancel"] | None = None
    duplicate_limit: StrictInt | None = None
    cancel: StrictBool = Field(False, description="cancel the launch and release every hold")


class FanIn(_In):
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    referral_code: str | None = Field(None, max_length=32)
    address: str | None = Field(None, max_length=500, description="shipping address")
    phone: str | None = Field(None, max_length=40)


class ClaimIn(_In):
    sku: str
    quantity: StrictInt = Field(1, ge=1)
    priority_code: str | None = None


class PaymentIn(_In):
    method: str = Field(examples=["test"])
    token: str = Field(min_length=1, max_length=500, examples=["tok_ok"])


class CodesIn(_In):
    sku: str | None = Field(None, description="leave out for codes good for any SKU")
    count: StrictInt
    expires_at: AwareDatetime | None = Field(
        None, description="unredeemed codes stop working then and their units go back on sale"
    )


class RateIn(_In):
    starts_on: date = Field(description="from this day on (ISO date)")
    units_per_day: StrictInt = Field(ge=0, description="0 pauses production")


class AdjustmentIn(_In):
    on: date
    units: StrictInt = Field(description="extra (or, negative, fewer) units that day")
    note: str = Field("", max_length=500)


class PlanIn(_In):
    starts_on: date = Field(description="first production day; `produced` is ready that day")
    produced: StrictInt = Field(0, ge=0, description="units already made")
    rates: list[RateIn] = Field(default_factory=list, max_length=1000)
    adjustments: list[AdjustmentIn] = Field(default_factory=list, max_length=1000)


class ShipNextIn(_In):
    count: StrictInt = Field(description="how many orders, next in queue order")
    carrier: str = Field(min_length=1, max_length=100)
    tracking_numbers: list[str] | None = Field(
        None, description="one per order shipped, in queue order"
    )


class RefundIn(_In):
    reason: str = Field("", max_length=500)


class ReservationIn(_In):
    sku: str | None = Field(None, max_length=64, description="the SKU a draw entry is for")
