"""An order's history read as what changed, line by line, for the pages that show it.

Each stored line (`OrderEvent`) is English written when the thing happened: a shipment
names the carrier and tracking number it went with, a ship-date line the date it gave.
A page must show those, never the order as it is now (whose tracking number is the
latest one), and must say what each line changed: what a ship date or tracking number
replaced is on the line before it in the same thread, so it is read from there. That
also reads lines written before this module, unchanged.

Usage: `for line in read(await store.orders.events(order.id))`, then `line.change`,
`line.before_day`, `line.tracking`, `line.before_tracking`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from soldout.domain.claims import OrderEvent

__all__ = ["HistoryLine", "read"]

SHIP_DATE_KINDS = frozenset({"scheduled", "ship_date_changed"})
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRACKING = ", tracking "  # between the carrier and the number, as engine/shipping.py writes


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One line and what it changed. `change` is set on ship-date lines only: `set` (the
    date given with the payment), `given` (a date where there was none), `changed` (one
    date for another), `removed` (no date until more are made)."""

    at: datetime
    kind: str
    detail: str
    change: str = ""
    day: date | None = None  # the ship date the line gives (None: no date)
    before_day: date | None = None  # the ship date it replaced
    carrier: str | None = None  # a shipment's or tracking change's, as it was then
    tracking: str | None = None
    before_tracking: str | None = None  # the tracking number a tracking change replaced


def read(events: Sequence[OrderEvent]) -> list[HistoryLine]:
    """The lines in order, each with what it changed (see `HistoryLine`)."""
    lines: list[HistoryLine] = []
    paid_at: datetime | None = None
    day: date | None = None  # the ship date so far
    tracking: str | None = None  # the tracking number so far
    for e in events:
        if e.kind == "paid":
            paid_at = e.at
            lines.append(HistoryLine(e.at, e.kind, e.detail))
        elif e.kind in SHIP_DATE_KINDS:
            new = _day_in(e.detail)
            change = _ship_date_change(day, new, with_payment=e.at == paid_at)
            lines.append(HistoryLine(e.at, e.kind, e.detail, change, new, day))
            day = new
        elif e.kind in ("shipped", "tracking_changed"):
            said = e.detail.removeprefix("shipped by ") if e.kind == "shipped" else e.detail
            carrier, _, number = said.partition(_TRACKING)
            before = tracking if e.kind == "tracking_changed" else None
            then = number or None
            lines.append(HistoryLine(e.at, e.kind, e.detail, "", None, None, carrier, then, before))
            tracking = then
        else:
            lines.append(HistoryLine(e.at, e.kind, e.detail))
    return lines


def _ship_date_change(before: date | None, after: date | None, *, with_payment: bool) -> str:
    if after is None:
        return "removed"
    if before is not None:
        return "changed"
    return "set" if with_payment else "given"


def _day_in(detail: str) -> date | None:
    found = _DAY.search(detail)
    return date.fromisoformat(found.group(0)) if found else None
