"""The PostgreSQL store: every port on one database, migrated on open, writes
group-committed (one round trip for many claims), owned by one process (an advisory lock)."""

from soldout.store.postgresql.ownership import check_database
from soldout.store.postgresql.store import PostgresStore, StoreInUse

__all__ = ["PostgresStore", "StoreInUse", "check_database"]
