"""Persistence: one port per aggregate and the unit of work that groups their writes
(`ports`: `async with store.transaction() as tx:`), an in-memory adapter for unit tests
(`memory`) and the embedded SQLite adapter (`sqlite`)."""

from soldout.store.ports import (
    ClaimRepository,
    CodeRepository,
    FanRepository,
    LaunchRepository,
    ProductRepository,
    ReservationRepository,
    Store,
    StoreHealth,
    Transaction,
)

__all__ = [
    "ClaimRepository",
    "CodeRepository",
    "FanRepository",
    "LaunchRepository",
    "ProductRepository",
    "ReservationRepository",
    "Store",
    "StoreHealth",
    "Transaction",
]
