"""The embedded store: SQLite in WAL mode, writes group-committed on the event loop."""

from soldout.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
