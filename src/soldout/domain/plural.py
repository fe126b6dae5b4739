"""A number and the English noun it counts, for messages that are not translated (the
CLI, the admin, API refusals): "1 order", "2 orders"."""

from __future__ import annotations

__all__ = ["count"]


def count(n: int, noun: str, plural: str | None = None) -> str:
    """ "1 line", "2 lines"; "1 launch", "2 launches" (`plural` when it is not noun + s)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"
