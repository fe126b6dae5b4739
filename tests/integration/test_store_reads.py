"""The indexes of the store's targeted reads (SQLite's migration 0009, PostgreSQL's 0002):
a database written by an older version gets them when the store opens, keeps its rows and
serves them through them; taking the migration back drops exactly them.

(What each read returns is proven on every adapter in `test_store_contract.py`.)
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool

from soldout.domain.claims import Claim
from soldout.store.postgresql import PostgresStore
from soldout.store.postgresql.migrations import HERE as PG_MIGRATIONS
from soldout.store.postgresql.migrations import sqlalchemy_url
from soldout.store.rows import CLAIM_COLUMNS, claim_row
from soldout.store.rows_after_sale import RETURNED
from soldout.store.sqlite import SqliteStore
from soldout.store.sqlite.migrations import alembic_config

pytest_plugins = ["tests.postgres"]

INDEXES = {
    "claims_by_launch",
    "orders_by_launch",
    "payments_by_claim",
    "orders_in_queue",  # partial: the orders still to ship
    "payments_unsettled",  # partial: the payments still waiting on the provider
    "orders_shipped",  # partial: the units shipped, summed on start
    "orders_returned",  # partial: the units refunded after they shipped, summed on start
}
T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


def claims() -> list[Claim]:
    return [
        Claim(
            f"clm_{n}",
            f"lch_{n % 2}",
            "fan_1",
            "A",
            1,
            1000,
            "EUR",
            T0 + timedelta(seconds=n),
            T0 + timedelta(minutes=10),
            f"k{n}",
        )
        for n in range(4)
    ]


def sqlite_indexes(database: Path) -> set[str]:
    """The indexes made by name (not those SQLite makes for a table's primary key)."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {r[0] for r in names if not r[0].startswith("sqlite_autoindex_")}


async def test_an_older_sqlite_database_gets_the_indexes(tmp_path: Path) -> None:
    database = tmp_path / "soldout.db"
    config = alembic_config(database)
    command.upgrade(config, "0008")
    before = sqlite_indexes(database)
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.executemany(
            f"INSERT INTO claims ({CLAIM_COLUMNS}) VALUES ({', '.join('?' * 13)})",
            [claim_row(c) for c in claims()],
        )
    store = SqliteStore(database)
    await store.open()  # migrates to the newest schema
    try:
        found = await store.claims.of_launches(["lch_1"])
    finally:
        await store.close()
    assert [c.id for c in found] == ["clm_1", "clm_3"]
    assert sqlite_indexes(database) - before == INDEXES
    with contextlib.closing(sqlite3.connect(database)) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM claims"
            " WHERE launch_id IN (SELECT value FROM json_each(?))",
            ('["lch_1"]',),
        ).fetchall()
    assert any("claims_by_launch" in row[-1] for row in plan), plan
    with contextlib.closing(sqlite3.connect(database)) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM orders WHERE status IN ('paid', 'scheduled')"
            " ORDER BY paid_at, id"
        ).fetchall()
    assert any("orders_in_queue" in row[-1] for row in plan), plan
    with contextlib.closing(sqlite3.connect(database)) as conn:
        plan = conn.execute(  # the start's count of units returned: their few rows alone
            "EXPLAIN QUERY PLAN SELECT launch_id, sku, sum(quantity) FROM orders"
            f" WHERE {RETURNED} GROUP BY launch_id, sku ORDER BY launch_id, sku"
        ).fetchall()
    assert any("USING INDEX orders_returned" in row[-1] for row in plan), plan
    with contextlib.closing(sqlite3.connect(database)) as conn:
        plan = conn.execute(  # the start's tally reads the index alone, not the claims
            "EXPLAIN QUERY PLAN SELECT launch_id, sku, state, count(*), sum(quantity)"
            " FROM claims GROUP BY launch_id, sku, state"
        ).fetchall()
    assert any("COVERING INDEX claims_by_launch" in row[-1] for row in plan), plan
    command.downgrade(config, "0008")
    assert sqlite_indexes(database) == before


def migrate_postgres(url: str, revision: str, *, down: bool = False) -> None:
    """What `soldout.store.postgresql.migrations.upgrade` does, to any revision."""
    config = Config()
    config.set_main_option("script_location", str(PG_MIGRATIONS))
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def postgres_indexes(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        ).fetchall()
    return {r[0] for r in rows if not r[0].endswith("_pkey")}  # (not a table's primary key)


async def test_an_older_postgres_database_gets_the_indexes(postgres_url: str) -> None:
    migrate_postgres(postgres_url, "0001")
    before = postgres_indexes(postgres_url)
    with psycopg.connect(postgres_url) as conn:
        conn.cursor().executemany(
            f"INSERT INTO claims ({CLAIM_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})",
            [claim_row(c) for c in claims()],
        )
    store = PostgresStore(postgres_url)
    await store.open()  # migrates to the newest schema
    try:
        found = await store.claims.of_launches(["lch_1"])
    finally:
        await store.close()
    assert [c.id for c in found] == ["clm_1", "clm_3"]
    assert postgres_indexes(postgres_url) - before == INDEXES
    migrate_postgres(postgres_url, "0001", down=True)
    assert postgres_indexes(postgres_url) == before
