"""Group commit on the event loop: many writes, one transaction, one fsync.

Callers `submit()` a job (a function of the connection) and await its future; a
transaction block's writes are one job (`Block`, one savepoint), so many blocks share a
commit as single writes do, and a failing one rolls back alone. The first job queued in a
tick of the event loop schedules a flush with `call_soon`; the flush runs after every
callback already ready in that tick, so all the requests the loop is handling now share
one commit. While the flush blocks on fsync, new requests pile up in the sockets and form
the next batch: batches size themselves to the load and an idle server adds no delay.
`PRAGMA synchronous=FULL` in WAL mode: COMMIT returns after the WAL is fsynced, so a
resolved future means the write survives a crash or a power cut.

Why on the loop and not in a writer thread: a thread must take the GIL back after every
SQLite step, and the busy event loop holds it; each hand-off can wait a whole switch
interval (5 ms). A commit here costs well under a millisecond (fsync measured ~0.2 ms on
the target machine), which is cheaper than that contention (docs/server-choice.md).

Jobs commit in submission order, so a release that freed a unit is never durable after the
claim that took the unit again. If a commit fails the store stops taking writes
(fail-stop): the engine's counters may be ahead of the disk, and a restart rebuilds them
from what is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from soldout.datadir import explain
from soldout.domain.errors import StorageUnavailable
from soldout.store.transaction_base import JobBlock

__all__ = ["Block", "GroupCommitWriter", "Insert", "Job", "connect"]

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_VARIABLES = 32766  # SQLite's limit of ? per statement


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@dataclass(frozen=True, slots=True)
class Insert:
    """One row for `INSERT INTO table (columns)`. A run of these becomes one multi-row
    statement, so a batch of claims costs one SQLite step rather than one per claim."""

    into: str
    row: tuple[object, ...]

    def __call__(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"{self.into} VALUES ({', '.join('?' * len(self.row))})", self.row)


Job = Callable[[sqlite3.Connection], None]
Queued = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", bool]
Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class Block(JobBlock[Job]):
    """The jobs of one transaction block, run in the order noted as one job (so in one
    savepoint: all of them or none) once the block exits. `durable` is its outcome."""

    def __call__(self, conn: sqlite3.Connection) -> None:
        for job in self.jobs:
            job(conn)


class GroupCommitWriter:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._pending: list[Queued] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failed: BaseException | None = None
        self.batches = 0
        self.jobs = 0
        # hear each commit: (writes in it, seconds its COMMIT took: the fsync), for metrics
        self.listeners: list[Callable[[int, float], None]] = []

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._conn = connect(self._path)

    @property
    def running(self) -> bool:
        """Started and not stopped: this process owns the store and writes it."""
        return self._conn is not None

    def submit(
        self, job: Callable[[sqlite3.Connection], T], *, savepoint: bool = True
    ) -> asyncio.Future[T]:
        """Queue `job(conn)`; the future resolves once the transaction holding it is durable.

        `savepoint=False` is for jobs of a single statement, which SQLite already makes
        atomic; it saves two statements on the hot path.
        """
        if self.failed is not None or self._loop is None:
            raise StorageUnavailable()
        future: asyncio.Future[T] = self._loop.create_future()
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append((job, future, savepoint))
        return future

    def submit_block(self, block: Block) -> None:
        """Queue a transaction block's jobs as one job; `block.durable` resolves once they
        are durable, or fails (the block rolled back alone, or the store stopped)."""
        if self.failed is not None or self._loop is None:
            raise StorageUnavailable()
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append((block, block.durable, True))

    async def stop(self) -> None:
        self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        conn = self._conn
        outcomes: list[Outcome] = []
        fsync = -1.0
        if self.failed is not None or conn is None:
            outcomes = [(f, None, StorageUnavailable()) for _, f, _ in batch]
        else:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for run in _runs(batch):
                    if isinstance(run[0][0], Insert):
                        outcomes.extend(_insert_rows(conn, run))
                    else:
                        outcomes.extend((f, *_apply(conn, j, sp)) for j, f, sp in run)
                committing = time.perf_counter()
                conn.execute("COMMIT")
                fsync = time.perf_counter() - committing
                self.batches += 1
                self.jobs += len(batch)
            except Exception as exc:  # the disk, not a job: stop writing
                # one line naming the file and what to do (a full disk, a damaged file)
                log.critical(
                    "commit failed, no more writes until restarted: %s", explain(exc, self._path)
                )
                self.failed = exc
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                outcomes = [(f, None, StorageUnavailable()) for _, f, _ in batch]
        if fsync >= 0:
            self._tell(len(batch), fsync)
        for future, result, error in outcomes:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    def _tell(self, writes: int, seconds: float) -> None:
        """Listeners hear of a commit after it: one that raises is logged, and the
        commit stands (it must never stop the store)."""
        for listener in self.listeners:
            try:
                listener(writes, seconds)
            except Exception:
                log.exception("a commit listener failed")


def _runs(batch: list[Queued]) -> list[list[Queued]]:
    """Split a batch into runs: consecutive inserts into the same table, or single jobs."""
    runs: list[list[Queued]] = []
    for item in batch:
        job = item[0]
        last = runs[-1][-1][0] if runs else None
        if isinstance(job, Insert) and isinstance(last, Insert) and last.into == job.into:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _insert_rows(conn: sqlite3.Connection, run: list[Queued]) -> list[Outcome]:
    """All rows of a run in as few statements as SQLite allows; if one fails (SQLite rolls
    the statement back whole), each of its rows is tried alone so only the bad one fails."""
    outcomes: list[Outcome] = []
    first: Insert = run[0][0]  # type: ignore[assignment]
    width = len(first.row)
    per_statement = max(1, MAX_VARIABLES // width)
    for start in range(0, len(run), per_statement):
        chunk = run[start : start + per_statement]
        values = ", ".join(["(" + ", ".join("?" * width) + ")"] * len(chunk))
        params = [v for job, _, _ in chunk for v in job.row]  # type: ignore[attr-defined]
        try:
            conn.execute(f"{first.into} VALUES {values}", params)
        except sqlite3.IntegrityError:
            outcomes.extend((f, *_apply(conn, j, False)) for j, f, _ in chunk)
        else:
            outcomes.extend((f, None, None) for _, f, _ in chunk)
    return outcomes


def _apply(
    conn: sqlite3.Connection, job: Callable[[sqlite3.Connection], Any], savepoint: bool
) -> tuple[Any, BaseException | None]:
    if not savepoint:
        try:
            return job(conn), None
        except sqlite3.IntegrityError as exc:
            return None, exc
    conn.execute("SAVEPOINT job")
    try:
        result = job(conn)
    except Exception as exc:
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return None, exc
    conn.execute("RELEASE job")
    return result, None
