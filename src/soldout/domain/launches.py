"""Launches: one sale event of a product, its rules and its life cycle.

Life cycle: draft -> scheduled -> reservations_open -> on_sale -> sold_out | closed.
`phase()` derives everything but `sold_out` from the launch and the time; the engine adds
`sold_out` from its counters, and a sold-out launch is `on_sale` again as soon as a unit
comes back while the sale window is open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from soldout.domain.duplicates import DuplicateRule
from soldout.domain.errors import InvalidInput

__all__ = [
    "FAIR_POW_BITS",
    "FAIR_SHUFFLE_SECONDS",
    "MAX_TITLE",
    "DuplicateRule",
    "Launch",
    "LaunchRules",
    "Mode",
    "Phase",
    "Race",
    "Status",
    "check_schedule",
    "fair_admission",
    "rules_for",
    "same_second",
]

MAX_PAYMENT_WINDOW = 7 * 24 * 3600
MAX_TITLE = 200
MAX_BATCH = 10_000_000
MAX_SHUFFLE_SECONDS = 600
MAX_BURST = 1_000_000
MAX_RATE = 100_000.0


class Mode(StrEnum):
    FIRST_COME = "first_come"
    DRAW = "draw"


class Phase(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RESERVATIONS_OPEN = "reservations_open"
    ON_SALE = "on_sale"
    CLOSED = "closed"


class Race(StrEnum):
    """How the protections a maker leaves unset are chosen (see `rules_for`)."""

    FAIR = "fair"  # the default: a shuffled queue sized to the batch, proof of work, duplicates
    FAST = "fast"  # nothing guards the sale: the first request wins


class Status(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RESERVATIONS_OPEN = "reservations_open"
    ON_SALE = "on_sale"
    PAUSED = "paused"
    SOLD_OUT = "sold_out"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class LaunchRules:
    mode: Mode = Mode.FIRST_COME
    reservation_required: bool = False
    per_fan_limit: int = 1
    payment_window_seconds: int = 900
    registered_before: datetime | None = None  # only fans registered before may reserve
    waiting_room_rate: float | None = None  # fans admitted per second; None: no waiting room
    waiting_room_burst: int = 0  # admitted at once when the sale opens
    # Fans who join up to this long after the opening draw their places with those who
    # came before; admission starts then (0: only those there before the opening).
    waiting_room_shuffle_seconds: int = 0
    pow_difficulty: int | None = None  # leading zero bits of a proof of work per claim
    duplicate_rule: DuplicateRule = DuplicateRule.ALLOW
    duplicate_limit: int = 2  # fans per address or phone before the rule applies

    def __post_init__(self) -> None:
        if self.mode is Mode.DRAW and self.waiting_room_rate is not None:
            raise InvalidInput(
                "a draw needs no waiting room: entries are the reservations",
                field="waiting_room_rate",
            )
        if self.registered_before is not None and not (
            self.reservation_required or self.mode is Mode.DRAW
        ):
            raise InvalidInput(
                "an account-age rule applies to reservations: set reservation_required too",
                field="registered_before",
            )
        if self.waiting_room_rate is not None and not 0.01 <= self.waiting_room_rate <= 100_000:
            raise InvalidInput(
                "waiting_room_rate must be between 0.01 and 100000 fans per second",
                field="waiting_room_rate",
            )
        if not 0 <= self.waiting_room_burst <= MAX_BURST:
            raise InvalidInput(
                "waiting_room_burst must be between 0 and 1000000", field="waiting_room_burst"
            )
        if not 0 <= self.waiting_room_shuffle_seconds <= MAX_SHUFFLE_SECONDS:
            raise InvalidInput(
                f"waiting_room_shuffle_seconds must be between 0 and {MAX_SHUFFLE_SECONDS}",
                field="waiting_room_shuffle_seconds",
            )
        if self.waiting_room_shuffle_seconds and self.waiting_room_rate is None:
            raise InvalidInput(
                "a shuffle window needs a waiting room: set waiting_room_rate too",
                field="waiting_room_shuffle_seconds",
            )
        if self.pow_difficulty is not None and not 1 <= self.pow_difficulty <= 28:
            raise InvalidInput(
                "pow_difficulty must be between 1 and 28 bits", field="pow_difficulty"
            )
        if not 1 <= self.duplicate_limit <= 1000:
            raise InvalidInput(
                "duplicate_limit must be between 1 and 1000", field="duplicate_limit"
            )
        if not 1 <= self.per_fan_limit <= 1000:
            raise InvalidInput("per_fan_limit must be between 1 and 1000", field="per_fan_limit")
        if not 10 <= self.payment_window_seconds <= MAX_PAYMENT_WINDOW:
            raise InvalidInput(
                f"payment_window_seconds must be between 10 and {MAX_PAYMENT_WINDOW}",
                field="payment_window_seconds",
            )

    def room_opens_at(self, sale_opens_at: datetime) -> datetime:
        """When the waiting room draws its queue and starts admitting: the opening, plus
        the shuffle window."""
        return sale_opens_at + timedelta(seconds=self.waiting_room_shuffle_seconds)


# The fair race's protections, sized to the batch (`rules_for`).
FAIR_POW_BITS = 12  # ~4,000 hashes a claim: milliseconds on a phone, a cost per press for a farm
FAIR_SHUFFLE_SECONDS = 10  # a slow page load or a late click costs nothing
FAIR_ADMISSION_SECONDS = 120  # after the first wave, the batch again over two minutes


def fair_admission(units: int) -> tuple[float, int]:
    """(rate per second, burst) of the fair waiting room for a batch of `units`.

    The burst lets in as many fans at once as there are units, drawn at random: each of
    them can buy whatever their reaction time, so speed wins nothing. The rate then lets
    in the batch again over two minutes, for the units that come back (abandoned claims,
    admitted fans who do not buy): slow enough that the fans let in later seldom race the
    ones let in first."""
    burst = max(1, min(units, MAX_BURST))
    rate = min(MAX_RATE, max(1.0, math.ceil(units / FAIR_ADMISSION_SECONDS * 100) / 100))
    return rate, burst


def rules_for(
    race: Race, *, units: int, mode: Mode = Mode.FIRST_COME, **given: object
) -> LaunchRules:
    """A launch's rules: what the maker set (`given`, any `LaunchRules` field), and for each
    protection left out, the race's default.

    `Race.FAIR` (the API's and the admin's default): a waiting room that draws a random
    order among everyone there by the opening or within `FAIR_SHUFFLE_SECONDS` after it and
    admits `fair_admission(units)`, proof of work of `FAIR_POW_BITS` per claim, and
    accounts beyond two per address or phone refused (`duplicate_rule` cancel). A draw has
    no race to guard: only the duplicate rule applies to its entries.
    `Race.FAST`: every protection left out is off; the first request wins.

        rules_for(Race.FAIR, units=1000)                           # room 8.34/s, burst 1000
        rules_for(Race.FAIR, units=1000, pow_difficulty=None)      # no proof of work
        rules_for(Race.FAST, units=1000, waiting_room_rate=250.0)  # only a room, at opening
    """
    fair, first_come = race is Race.FAIR, mode is Mode.FIRST_COME
    chosen = dict(given)
    rate, burst = fair_admission(units)
    if "waiting_room_rate" not in chosen:
        chosen["waiting_room_rate"] = rate if fair and first_come else None
    room = chosen["waiting_room_rate"] is not None
    chosen.setdefault("waiting_room_burst", burst if fair and room else 0)
    chosen.setdefault("waiting_room_shuffle_seconds", FAIR_SHUFFLE_SECONDS if fair and room else 0)
    chosen.setdefault("pow_difficulty", FAIR_POW_BITS if fair and first_come else None)
    chosen.setdefault("duplicate_rule", DuplicateRule.CANCEL if fair else DuplicateRule.ALLOW)
    return LaunchRules(mode=mode, **chosen)  # type: ignore[arg-type]


def same_second(a: datetime, b: datetime) -> bool:
    """The same moment as a form shows it, to the second (a stored time has microseconds)."""
    return a.replace(microsecond=0) == b.replace(microsecond=0)


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


_MAKERS_TIMES = ("sale_opens_at", "reservations_open_at", "sale_closes_at")


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
    paused_at: datetime | None = None  # an emergency stop: no claims until resumed
    draw_commitment: str | None = None  # SHA-256 of the draw's seed, published before it
    drawn_at: datetime | None = None
    draw_units: dict[str, int] | None = field(default=None, hash=False)  # units drawn per SKU
    rehearsal: str | None = None  # made by a rehearsal run (its id): never shown to fans

    def __post_init__(self) -> None:
        # The maker's times in UTC, whatever offset they were given with (an opening sent
        # as +05:30 was stored, shown and told so, where every other time is UTC).
        for name in _MAKERS_TIMES:
            value: datetime | None = getattr(self, name)
            if value is not None and value.utcoffset() != timedelta(0):
                object.__setattr__(self, name, value.astimezone(UTC))

    @property
    def is_draw(self) -> bool:
        return self.rules.mode is Mode.DRAW

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
