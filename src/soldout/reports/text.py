"""Figures as people read them: money, shares, seconds since opening."""

from __future__ import annotations

from soldout.domain.money import Money
from soldout.domain.plural import count

__all__ = ["count", "money", "percent", "seconds", "share"]


def money(amount: int, currency: str) -> str:
    """Exact, from minor units: "EUR 1,299.00"; a loss is "-EUR 12.00"."""
    text = str(Money(abs(amount), currency))
    return "-" + text if amount < 0 else text


def seconds(at: float | None) -> str:
    """Seconds since opening: "+2.5 s", "-10 s" (before opening)."""
    if at is None:
        return "n/a"
    return f"{at:+.1f} s" if at % 1 else f"{at:+.0f} s"


def share(part: int, whole: int) -> str:
    return percent(part / whole) if whole else "n/a"


def percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.1f}%"
