"""Who owns a PostgreSQL store: one soldout process at a time, by an advisory lock.

The engine's counters are the truth only if no other process sells from the same record,
so a second server on the same database is refused, with a message naming the database
and the session that holds it. PostgreSQL keeps advisory locks per database, so one key
serves any number of soldout databases on a server; the lock is a session's and goes
with it (a crash, a network cut), as SQLite's flock goes with the process.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import psycopg
import sqlalchemy.exc
from psycopg.conninfo import conninfo_to_dict

from soldout.datadir import Unusable
from soldout.store.postgresql.migrations import upgrade
from soldout.store.sqlite.store import StoreInUse

__all__ = [
    "LOCK_KEY",
    "check_database",
    "first_line",
    "let_go",
    "take_lock",
    "warn_unless_durable",
    "where",
]

log = logging.getLogger(__name__)

LOCK_KEY = 0x736F6C64  # "sold"
_TRY = "SELECT pg_try_advisory_lock(%b)"
_HOLDER = (
    "SELECT a.pid, host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %b AND l.database ="
    " (SELECT oid FROM pg_database WHERE datname = current_database())"
)
# Let go explicitly: a closed connection's lock goes only when its server process has
# exited, a moment after the client's close returned (a start right after a check, or
# after a stop, was refused now and then without this).
_UNLOCK = "SELECT pg_advisory_unlock(%b)"
_DURABILITY = "SELECT current_setting('synchronous_commit'), current_setting('fsync')"


def where(url: str) -> str:
    """`database shop on db.internal:5432`: which database, for messages (no password)."""
    info = conninfo_to_dict(url)
    name = info.get("dbname") or info.get("user") or "?"
    return f"database {name} on {info.get('host') or 'localhost'}:{info.get('port') or 5432}"


def first_line(exc: BaseException | None) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _in_use(where: str, holder: Any) -> StoreInUse:
    by = ""
    if holder is not None:
        by = f" (its session: PostgreSQL pid {holder[0]} from {holder[1] or 'a local socket'})"
    return StoreInUse(
        f"another soldout server owns the PostgreSQL {where}{by}; one process owns a store"
        " (stop the other one, or use another database)"
    )


async def take_lock(conn: psycopg.AsyncConnection[Any], where: str) -> None:
    """Own the database for as long as `conn` lives, or raise `StoreInUse`. `conn` is the
    writer's own: if its session ends, the lock and the writes end together (fail-stop),
    never one without the other."""
    taken = await (await conn.execute(_TRY, (LOCK_KEY,))).fetchone()
    if taken is None or not taken[0]:
        raise _in_use(where, await (await conn.execute(_HOLDER, (LOCK_KEY,))).fetchone())


def check_database(url: str, *, migrate: bool = True) -> None:
    """Before a server starts on `url` (as SQLite's `check_not_in_use` and `check_database`
    do for a file): `StoreInUse` now if another server owns it, `Unusable` (one line naming
    it) if it cannot be reached or migrated; else it is migrated (unless not `migrate`),
    under the lock, which is then let go until `PostgresStore.open` takes it for good."""
    name = where(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            taken = conn.execute(_TRY, (LOCK_KEY,)).fetchone()
            if taken is None or not taken[0]:
                raise _in_use(name, conn.execute(_HOLDER, (LOCK_KEY,)).fetchone())
            if migrate:
                upgrade(url)
            conn.execute(_UNLOCK, (LOCK_KEY,))
    except psycopg.Error as exc:
        raise Unusable(f"cannot reach the PostgreSQL {name}: {first_line(exc)}") from None
    except sqlalchemy.exc.DBAPIError as exc:
        raise Unusable(f"cannot migrate the PostgreSQL {name}: {first_line(exc.orig)}") from None


async def let_go(conn: psycopg.AsyncConnection[Any]) -> None:
    """Release the lock `take_lock` took on `conn`, unless the session is gone already."""
    if not conn.broken and not conn.closed:
        with contextlib.suppress(psycopg.Error):
            await conn.execute(_UNLOCK, (LOCK_KEY,))


async def warn_unless_durable(conn: psycopg.AsyncConnection[Any], where: str) -> None:
    """A claim is answered once its COMMIT returns: durable only if the server flushes its
    WAL before answering (`synchronous_commit` not `off`, `fsync` on)."""
    row = await (await conn.execute(_DURABILITY)).fetchone()
    if row is not None and "off" in (row[0], row[1]):
        log.warning(
            "the PostgreSQL %s runs with synchronous_commit=%s, fsync=%s: a claim answered"
            " yes may be lost in a crash of its server",
            where,
            row[0],
            row[1],
        )
