"""The embedded store: SQLite in WAL mode, writes group-committed on the event loop."""

from soldout.store.sqlite.store import SqliteStore, StoreInUse

__all__ = ["SqliteStore", "StoreInUse"]
