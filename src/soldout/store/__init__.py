"""Persistence: one port per aggregate (`ports`), an in-memory adapter for unit tests
(`memory`) and the embedded SQLite adapter (`sqlite`)."""

from soldout.store.ports import (
    ClaimRepository,
    CodeRepository,
    FanRepository,
    LaunchRepository,
    ProductRepository,
    ReservationRepository,
    Store,
)

__all__ = [
    "ClaimRepository",
    "CodeRepository",
    "FanRepository",
    "LaunchRepository",
    "ProductRepository",
    "ReservationRepository",
    "Store",
]
