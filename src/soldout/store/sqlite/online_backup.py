"""A copy of a live SQLite database as it was at one moment, and the check that a copy is
whole: the SQLite half of `soldout backup` and `soldout restore`.

The copy goes through SQLite's online backup API in steps, reading through a read
transaction opened before the first page is copied and held until the last (`pinned`).
In WAL mode that read pins one snapshot: every page copied, in whichever step, belongs to
the same moment, and the serving process never waits for the copy (a reader never blocks
a writer; only its checkpoints stop at the pinned snapshot, so its -wal file grows until
the copy ends). Without the pin SQLite starts a stepped copy over whenever another
connection writes, and under a sale's group commits (hundreds a second) a copy longer
than a few milliseconds never finishes: a 252-page test database written to between
steps was still restarting after 20 s, and copied in 252 steps with the pin.

    with pinned(store_path) as store:
        pages = copy_pinned(store, Path("backup/soldout.db"))
    assert not integrity_problems(Path("backup/soldout.db"))
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from soldout.datadir import PRIVATE_FILE, read_only_uri

__all__ = ["PAGES_PER_STEP", "copy_pinned", "integrity_problems", "pinned", "pinned_schema"]

PAGES_PER_STEP = 1024  # 4 MiB of 4 KiB pages a step: a few milliseconds of disk each

OnStep = Callable[[int, int], object]
"""Called after each step with (pages still to copy, pages in all)."""


@contextlib.contextmanager
def pinned(path: Path, *others: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to `path` holding one read transaction (one snapshot) until
    the block ends. Changes nothing, takes no lock a server would wait on.

    Each of `others` is attached to it (schema `pinned_schema(1)`, `pinned_schema(2)`, ...)
    and pinned by the same statement, in the order given: one statement's read locks are
    taken one after the other, microseconds apart, where connecting to each database in
    turn left milliseconds between their moments (the files are opened before)."""
    for each in (path, *others):
        if not each.is_file():
            raise FileNotFoundError(f"no database at {each}")
    conn = sqlite3.connect(
        read_only_uri(path), uri=True, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA busy_timeout=10000")  # a WAL being recovered right now
        schemas = [pinned_schema(i) for i in range(1 + len(others))]
        for schema, other in zip(schemas[1:], others, strict=True):
            conn.execute(f"ATTACH DATABASE ? AS {schema}", (read_only_uri(other),))
        reads = " + ".join(f"(SELECT count(*) FROM {schema}.sqlite_master)" for schema in schemas)
        conn.execute("BEGIN")
        conn.execute(f"SELECT {reads}").fetchone()  # every snapshot starts, in order
        yield conn
        conn.execute("COMMIT")
    finally:
        conn.close()


def pinned_schema(index: int) -> str:
    """The schema name under which `pinned` holds its `index`-th database (0: `path`)."""
    return "main" if index == 0 else f"pinned{index}"


def copy_pinned(
    source: sqlite3.Connection,
    target: Path,
    *,
    pages_per_step: int = PAGES_PER_STEP,
    on_step: OnStep | None = None,
    schema: str = "main",
) -> int:
    """Copy the snapshot `source` holds of `schema` into a new file `target` (mode 0600,
    refused if it exists) and return the number of pages copied. The copy is a single file
    in rollback mode: it needs no -wal beside it, and a server opening it turns WAL on
    again."""
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    pages = 0

    def step(status: int, remaining: int, total: int) -> None:
        nonlocal pages
        pages = total
        if on_step is not None:
            on_step(remaining, total)

    copy = sqlite3.connect(target, isolation_level=None)
    try:
        source.backup(copy, pages=pages_per_step, progress=step, name=schema)
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
    return pages


def integrity_problems(path: Path, *, at_most: int = 10) -> list[str]:
    """What SQLite's `PRAGMA integrity_check` finds wrong with the database at `path`
    (nothing: an empty list), or why it is no database at all. Reads every page."""
    if not path.is_file():
        return [f"{path.name} is missing"]
    try:
        conn = sqlite3.connect(read_only_uri(path), uri=True)
        try:
            rows = conn.execute(f"PRAGMA integrity_check({int(at_most)})").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        return [f"{path.name}: {error}"]
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else [f"{path.name}: {line}" for line in found]
