"""The shop's own time zone, in which the maker reads and types the admin's times.

Every moment is kept as an instant (UTC); only the admin's pages show it on the shop's
wall clock, and a time the maker types there is read on that clock. Twice a year a wall
clock is not an instant:

- a time in the hour the clocks skip (02:30 on the night they spring forward in New York)
  never happens: refused (`nonexistent_time`), naming the jump, since no instant is the
  one the maker meant;
- a time in the hour the clocks repeat (01:30 on the night they fall back) happens
  twice: the first of the two is taken (daylight-saving time, `fold=0`), as calendars do,
  and the page shows the stored time with its abbreviation ("01:30:00 EDT") so the maker
  sees which one it is.

    zone = shop_zone("America/New_York")
    opens = instant(datetime(2027, 3, 14, 9, 0), zone, field="sale_opens_at")
    said_at(opens, zone)   # "2027-03-14 09:00:00 EDT"
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from soldout.domain.errors import InvalidInput

__all__ = ["abbreviation", "instant", "said_at", "shop_zone", "wall_clock"]

_NAME = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


def shop_zone(name: str, *, field: str = "time_zone") -> tzinfo:
    """The IANA zone `name` ("Europe/Amsterdam"), or `InvalidInput` (`unknown_time_zone`)."""
    if name in ("UTC", "Etc/UTC"):
        return UTC
    try:
        if _NAME.match(name) and name.lower() not in ("localtime", "posixrules", "factory"):
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise InvalidInput(
        f"{name!r} is not a time zone: use an IANA name such as Europe/Amsterdam",
        field=field,
        code="unknown_time_zone",
    )


def abbreviation(moment: datetime, zone: tzinfo) -> str:
    """The zone's abbreviation at `moment` ("EDT", "CET"), or its offset from UTC where
    the zone has no letters for it (tzdata writes "-03" for São Paulo: "UTC-03:00")."""
    local = moment.astimezone(zone)
    letters = local.tzname() or ""
    if letters.isalpha():
        return letters
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def said_at(moment: datetime, zone: tzinfo, *, seconds: bool = True) -> str:
    """`moment` on the shop's wall clock, with the zone's abbreviation or offset:
    "2027-03-14 09:00:00 EDT" (never a bare time someone could read in another zone)."""
    local = moment.astimezone(zone)
    clock = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{clock} {abbreviation(moment, zone)}"


def wall_clock(moment: datetime, zone: tzinfo) -> str:
    """`moment` as a `datetime-local` input's value on the shop's wall clock."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def instant(typed: datetime, zone: tzinfo, *, field: str) -> datetime:
    """The instant (UTC) of a time the maker typed on the shop's wall clock. A typed
    offset wins over the zone. See the module's docstring for the hour skipped (refused)
    and the hour repeated (its first occurrence)."""
    if typed.tzinfo is not None:
        return typed.astimezone(UTC)
    first = typed.replace(tzinfo=zone, fold=0)
    there = first.astimezone(UTC)
    if _exists(typed, zone):
        return there
    skipped = (first.replace(fold=1).utcoffset() or timedelta(0)) - (
        first.utcoffset() or timedelta(0)
    )
    start = typed.replace(second=0, microsecond=0)
    while not _exists(start - timedelta(minutes=1), zone):  # back to the gap's first minute
        start -= timedelta(minutes=1)
    raise InvalidInput(
        f"{typed:%Y-%m-%d %H:%M} does not exist in {_key(zone)}: the clocks go from"
        f" {start:%H:%M} straight to {start + abs(skipped):%H:%M} that night;"
        " choose a time before or after the jump",
        field=field,
        code="nonexistent_time",
    )


def _exists(wall: datetime, zone: tzinfo) -> bool:
    """Whether the wall-clock time `wall` (naive) happens in `zone`."""
    there = wall.replace(tzinfo=zone).astimezone(UTC)
    return there.astimezone(zone).replace(tzinfo=None) == wall


def _key(zone: tzinfo) -> str:
    return str(getattr(zone, "key", "UTC"))
