"""The embedded store: SQLite in WAL mode, writes group-committed by one writer thread."""

from soldout.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
