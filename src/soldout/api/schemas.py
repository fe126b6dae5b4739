"""Request bodies of the FastAPI routes. Unknown fields are refused, numbers are strict.

What people write (names, titles, addresses, descriptions) is checked past these shapes,
by the domain's one rule (`domain.text.check_text`), which the admin's and the
storefront's forms share; a key given twice never reaches them (`api.json_body`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from soldout.domain.money import MAX_MINOR_UNITS
from soldout.domain.products import (
    MAX_DESCRIPTION,
    MAX_IMAGES,
    MAX_SKUS,
    MAX_SPEC_LABEL,
    MAX_SPEC_VALUE,
    MAX_SPECS,
)

__all__ = [
    "ClaimIn",
    "CodesIn",
    "FanIn",
    "LaunchIn",
    "LaunchPatch",
    "PaymentIn",
    "PlanIn",
    "ProductIn",
    "ProductPatch",
    "RefundIn",
    "ReservationIn",
    "ShipNextIn",
    "ShippingIn",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SkuIn(_In):
    code: str = Field(min_length=1, max_length=64, examples=["M1-64-BLK"])
    name: str = Field(min_length=1, max_length=200)
    price: StrictInt = Field(
        ge=1, le=MAX_MINOR_UNITS, description="minor units, e.g. cents; more than 0"
    )
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    cost: StrictInt | None = Field(
        None,
        ge=0,
        le=MAX_MINOR_UNITS,
        description="what one unit costs you, in minor units of the price's currency;"
        " 0 if it costs nothing, null or left out if not given (its margin is then unknown)",
    )


class SpecIn(_In):
    label: str = Field(min_length=1, max_length=MAX_SPEC_LABEL, examples=["Weight"])
    value: str = Field(min_length=1, max_length=MAX_SPEC_VALUE, examples=["1.2 kg"])


_DESCRIPTION = "Markdown (headings, lists, emphasis, links, tables, code, quotes; no raw HTML)"
_IMAGES = "media ids of uploaded images (POST /products/{id}/images), the first is the hero"


class ProductIn(_In):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=MAX_DESCRIPTION, description=_DESCRIPTION)
    skus: list[SkuIn] = Field(min_length=1, max_length=MAX_SKUS)
    specs: list[SpecIn] = Field(default_factory=list, max_length=MAX_SPECS)
    images: list[str] = Field(default_factory=list, max_length=MAX_IMAGES, description=_IMAGES)


class ProductPatch(_In):
    """Fields left out are unchanged. `skus` is the whole new list, matched by code: a SKU
    in a launch cannot be left out nor change currency; a new price applies to claims
    made after the change. `images` is the whole new order."""

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION, description=_DESCRIPTION)
    skus: list[SkuIn] | None = Field(None, min_length=1, max_length=MAX_SKUS)
    specs: list[SpecIn] | None = Field(None, max_length=MAX_SPECS)
    images: list[str] | None = Field(None, max_length=MAX_IMAGES, description=_IMAGES)


_RACE = (
    "How the protections left out are chosen. `fair` (the default): a waiting room that"
    " draws a random order among every fan there by the opening or up to"
    " `waiting_room_shuffle_seconds` (10) after it and lets in as many fans at once as there"
    " are units, then the batch again over two minutes; proof of work of 12 bits per claim;"
    " accounts beyond `duplicate_limit` per address or phone refused. Speed wins nothing. A"
    " draw gets only the duplicate rule. `fast`: every protection left out is off and the"
    " first request wins. What it costs: scripts and bots beat people (in the bundled"
    " tuesday-noon rehearsal, bots won 75 % of their tries against the fans' 32 %). A field"
    " given explicitly always wins over either."
)


class LaunchIn(_In):
    """A new launch. Protections (`waiting_room_*`, `pow_difficulty`, `duplicate_rule`)
    left out follow `race`; the answer shows the rules the launch got."""

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
    draft: StrictBool = Field(
        False,
        description="a draft is not visible to fans until published (PATCH"
        " `published: true`); the API publishes at once unless asked (v1), the admin's"
        " form always starts a draft",
    )
    registered_before: AwareDatetime | None = Field(
        None, description="only fans registered before this may reserve (needs reservations)"
    )
    race: Literal["fair", "fast"] = Field("fair", description=_RACE)
    waiting_room_rate: float | None = Field(
        None,
        description="a waiting room admitting this many fans per second; null: no waiting"
        " room; left out: `race` decides (fair: the batch over two minutes, at least 1)",
    )
    waiting_room_burst: StrictInt | None = Field(
        None,
        description="fans admitted at once when the room opens; left out or null: `race`"
        " decides (fair: as many as there are units)",
    )
    waiting_room_shuffle_seconds: StrictInt | None = Field(
        None,
        description="fans who join up to this many seconds after the opening draw their"
        " places with those who came before, and admission starts then (0-600); left out"
        " or null: `race` decides (fair: 10)",
    )
    pow_difficulty: StrictInt | None = Field(
        None,
        description="proof of work per claim: leading zero bits of SHA-256; null: none; left"
        " out: `race` decides (fair: 12)",
    )
    duplicate_rule: Literal["allow", "hold", "cancel"] | None = Field(
        None,
        description="fans sharing an address or phone beyond the limit; left out or null:"
        " `race` decides (fair: cancel, fast: allow)",
    )
    duplicate_limit: StrictInt = 2

    def protections_given(self) -> dict[str, object]:
        """The protections the client set, as `LaunchRules` fields; the rest follow `race`.
        An explicit null turns a waiting room or proof of work off; for the others it
        means the race's default."""
        given: dict[str, object] = {}
        for name in ("waiting_room_rate", "pow_difficulty"):
            if name in self.model_fields_set:
                given[name] = getattr(self, name)
        for name in ("waiting_room_burst", "waiting_room_shuffle_seconds", "duplicate_rule"):
            if getattr(self, name) is not None:
                given[name] = getattr(self, name)
        return given


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


class ShippingIn(_In):
    """Where orders ship. Checked as a courier needs it: `country` an ISO 3166 code, the
    postal code in that country's format, `phone` a real number (stored in E.164)."""

    name: str = Field(max_length=200, examples=["Ann de Vries"])
    line1: str = Field(max_length=200, examples=["Keizersgracht 1"])
    line2: str = Field("", max_length=200)
    postal_code: str = Field("", max_length=20, examples=["1015 CD"])
    city: str = Field(max_length=100, examples=["Amsterdam"])
    region: str = Field("", max_length=100)
    country: str = Field(max_length=2, examples=["NL"])
    phone: str = Field(max_length=40, examples=["+31 20 123 4567"])


class FanIn(_In):
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    referral_code: str | None = Field(None, max_length=32)
    address: str | None = Field(
        None, max_length=500, description="one line, for the duplicate-buyer check only"
    )
    phone: str | None = Field(None, max_length=40)
    shipping: ShippingIn | None = Field(
        None, description="where orders ship (also read by the duplicate-buyer check)"
    )
    locale: Literal["en", "nl", "zh_Hans"] | None = Field(
        None, description="the language of the fan's e-mails"
    )
    time_zone: str | None = Field(
        None,
        max_length=64,
        description="the IANA time zone of the times in the fan's e-mails"
        ' ("Europe/Amsterdam"; UTC if not given, until the fan opens the storefront);'
        " 422 `unknown_time_zone` for a name that is not one",
    )


class ClaimIn(_In):
    """What to buy: a SKU by its code, how many, and a priority code if the fan has one."""

    # (the hot path reads the body itself, `claim_request.parse_claim`: this is its schema)
    sku: str = Field(min_length=1, description="the SKU's code")
    quantity: StrictInt = Field(1, ge=1)
    priority_code: str | None = Field(None, min_length=1, max_length=64)


class PaymentIn(_In):
    method: str = Field(examples=["test"], description="one of the provider's methods")
    token: str = Field(
        "",
        max_length=500,
        examples=["tok_ok"],
        description="the test provider's card; none with a hosted provider (422 `invalid` on"
        " `token` if one is sent: the card is given on the provider's page)",
    )
    shipping: ShippingIn | None = Field(
        None,
        description="where this order ships; kept as the fan's address (the order ships to"
        " the address on file when it is paid)",
    )


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


class TrackingIn(_In):
    carrier: str = Field(min_length=1, max_length=100)
    tracking_number: str = Field(min_length=1, max_length=200)


class RefundIn(_In):
    reason: str = Field(
        min_length=1,
        max_length=500,
        description="why: told to the fan, kept in the order's history and the audit log",
        examples=["arrived broken"],
    )
    amount: str | None = Field(
        default=None,
        max_length=40,
        description='part of the money, in the order\'s currency as a decimal ("12.50"):'
        " the order stands and keeps shipping; all that is left (or none given) refunds in"
        " full. 422 `invalid` on `amount` when not positive, above what is left, or with"
        " more decimals than the currency has",
        examples=["12.50"],
    )


class ReservationIn(_In):
    sku: str | None = Field(
        None,
        max_length=64,
        description="the SKU the fan wants: a draw's entry is for it; any reservation counts"
        " for it in the maker's demand",
    )
