"""Group commit on PostgreSQL: many writes, one transaction, one round trip.

Callers `submit()` a job and await its future; a transaction block's writes are one job
(`Block`: all its statements in one `Do`, so one savepoint if its batch is sent again job
by job), so many blocks share a commit as single writes do, and a failing one rolls back
alone. The first job queued while no commit is in
flight starts one (a task, scheduled like SQLite's `call_soon`: every write the loop queues
in this tick joins it); jobs queued while a commit is in flight form the next batch, so
batches size themselves to the load and an idle server adds no delay. A future resolves
only after its COMMIT returned, i.e. after the server flushed the WAL (with the server's
`synchronous_commit` on, its default: `PostgresStore.open` warns when it is not).

A batch is sent in psycopg's pipeline mode: BEGIN, every job's statements, COMMIT, then
one wait for all the answers. Consecutive `Insert`s into one table (the claims of a busy
second) become one `INSERT ... SELECT FROM unnest(arrays)` with binary parameters:
benchmarks/pg_drivers.py measured 4-7 µs of client CPU per row that way at 64+ rows per
batch, against ~116 µs for a statement of its own and 2-4x more for `executemany`.
Through this writer (`store.claims.add` alone, local PostgreSQL 15 and 18, fsync on), 64
claims waiting at once took 12-13 µs of CPU each, 45-49k claims/s in 64-claim commits;
256 at once 9 µs, 70-75k/s (SQLite on the same disk: 10 and 9 µs, 83-89k and 100-109k/s).

Failure, as the SQLite writer: a job that fails by itself (a constraint, bad data) fails
only its own future. Savepoints per job would cost a round trip each, so the batch is
first sent without them; only if it fails is it rolled back and sent again job by job,
each in a savepoint (a run of inserts first whole, then row by row). An error of the
connection or of the server (it went away, its disk is full) stops the writer
(fail-stop): `failed` is set, every later write raises `StorageUnavailable`, and a restart
rebuilds the engine's counters from what is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from soldout.domain.errors import StorageUnavailable
from soldout.store.transaction_base import JobBlock

__all__ = ["Block", "Do", "Insert", "Into", "Params", "PgWriter", "Step", "columns"]

log = logging.getLogger(__name__)
Params = Sequence[Any]
Step = tuple[str, Params]


@dataclass(frozen=True, slots=True)
class Into:
    """How rows reach one table by arrays: `INSERT INTO t (columns) SELECT * FROM
    unnest(%b::type[], ...)`, one statement for a whole run of rows."""

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]  # PostgreSQL's, one per column
    sql: str = field(init=False)

    def __post_init__(self) -> None:
        arrays = ", ".join(f"%b::{t}[]" for t in self.types)
        sql = f"INSERT INTO {self.table} ({', '.join(self.columns)}) SELECT * FROM unnest({arrays})"
        object.__setattr__(self, "sql", sql)

    def arrays(self, rows: Sequence[Sequence[object]]) -> list[list[object]]:
        """The rows as one list per column (psycopg sends a list as an array)."""
        return columns(rows, len(self.columns))


@dataclass(frozen=True, slots=True)
class Insert:
    """One row for `into`. A run of these becomes one statement with the rest of its run."""

    into: Into
    row: Sequence[object]


@dataclass(frozen=True, slots=True)
class Do:
    """Statements applied in order, all or none (a job's own savepoint if its batch is sent
    again job by job). `count`: the job's result is whether its last statement changed
    exactly one row (a webhook event new, a link not spent yet)."""

    steps: Sequence[Step]
    count: bool = False


Job = Insert | Do
Entry = tuple[Job, "asyncio.Future[Any]"]
Result = Callable[[], Any]  # read once the batch's answers are in
Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def columns(rows: Sequence[Sequence[object]], width: int) -> list[list[object]]:
    """Rows as one list per column: psycopg sends a list as an array, for `unnest`."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _none() -> None:
    return None


class Block(JobBlock[Job]):
    """The jobs of one transaction block, noted in order and sent as one `Do` (all of them
    or none) once the block exits. `durable` is its outcome."""

    def job(self) -> Do:
        """Every statement of the block, in order: a run of `Insert`s into one table is
        one `unnest` statement, as in a batch."""
        steps: list[Step] = []
        rows: list[Sequence[object]] = []
        into: Into | None = None
        for job in self.jobs:
            if isinstance(job, Insert) and job.into is into:
                rows.append(job.row)
                continue
            if into is not None:
                steps.append((into.sql, into.arrays(rows)))
                into, rows = None, []
            if isinstance(job, Insert):
                into, rows = job.into, [job.row]
            else:
                steps.extend(job.steps)
        if into is not None:
            steps.append((into.sql, into.arrays(rows)))
        return Do(steps)


class PgWriter:
    def __init__(self, name: str) -> None:
        self._name = name  # the database, for the one line logged when writing stops
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._pending: list[Entry] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failed: BaseException | None = None
        self.batches = 0
        self.jobs = 0
        # hear each commit: (writes in it, seconds from sending the batch to its COMMIT's
        # answer: one round trip, the WAL flush included), for metrics
        self.listeners: list[Callable[[int, float], None]] = []

    def start(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Write on `conn` (autocommit, the store's own: it also holds the store's lock)."""
        self._loop = asyncio.get_running_loop()
        self._conn = conn

    def resume(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Write again, on a new connection, after a failed commit stopped writing (a
        scale-out worker, which owns no counters, may: `PostgresStore.write_again`)."""
        self._conn = conn
        if self.failed is not None:
            log.warning("writing to %s again, on a new connection", self._name)
        self.failed = None

    @property
    def running(self) -> bool:
        """Started and not stopped: this process owns the store and writes it."""
        return self._conn is not None

    def submit(self, job: Job) -> asyncio.Future[Any]:
        """Queue `job`; the future resolves once the transaction holding it is durable (to
        None, or for a counting `Do` to whether its last statement changed one row)."""
        if self.failed is not None or self._loop is None:
            raise StorageUnavailable()
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue(job, future)
        return future

    def submit_block(self, block: Block) -> None:
        """Queue a transaction block's jobs as one job; `block.durable` resolves once they
        are durable, or fails (the block rolled back alone, or the store stopped)."""
        if self.failed is not None or self._loop is None:
            raise StorageUnavailable()
        self._queue(block.job(), block.durable)

    def _queue(self, job: Job, future: asyncio.Future[Any]) -> None:
        if self._conn is None:  # stopped: as SQLite's writer, the future fails
            future.set_exception(StorageUnavailable())
            return
        self._pending.append((job, future))
        if self._task is None:
            assert self._loop is not None
            self._task = self._loop.create_task(self._drain())

    async def stop(self) -> None:
        """Commit what is queued, then let go of the connection (the caller closes it)."""
        if self._task is not None:
            await asyncio.shield(self._task)
        self._conn = None

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                _settle(await self._commit(batch))
        finally:
            self._task = None

    async def _commit(self, batch: list[Entry]) -> list[Outcome]:
        conn = self._conn
        if self.failed is not None or conn is None:
            return [(f, None, StorageUnavailable()) for _, f in batch]
        try:
            started = time.perf_counter()
            try:
                results = await _pipelined(conn, batch)
            except Exception as exc:
                if _stops(conn, exc):
                    raise
                # (psycopg's own rollback: it also forgets the statements it prepared, some
                # of which the server may have skipped after the error)
                await conn.rollback()
                outcomes = await _one_by_one(conn, batch)
            else:
                outcomes = [
                    (f, result(), None) for (_, f), result in zip(batch, results, strict=True)
                ]
            seconds = time.perf_counter() - started
        except Exception as exc:  # the connection or the server, not a job: stop writing
            log.critical("commit to %s failed, no more writes until restarted: %s", self._name, exc)
            self.failed = exc
            return [(f, None, StorageUnavailable()) for _, f in batch]
        self.batches += 1
        self.jobs += len(batch)
        self._tell(len(batch), seconds)
        return outcomes

    def _tell(self, writes: int, seconds: float) -> None:
        """Listeners hear of a commit after it: one that raises is logged, and the commit
        stands (a listener's bug: the writes are durable all the same)."""
        for listener in self.listeners:
            try:
                listener(writes, seconds)
            except Exception:
                log.exception("a commit listener failed")


def _settle(outcomes: list[Outcome]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _stops(conn: psycopg.AsyncConnection[Any], exc: BaseException) -> bool:
    """Whether `exc` is the connection's or the server's (stop writing) rather than a job's."""
    if conn.broken or conn.closed or conn.info.transaction_status == TransactionStatus.UNKNOWN:
        return True
    if isinstance(exc, psycopg.errors.PipelineAborted):  # skipped after a job's error
        return False
    return isinstance(
        exc, psycopg.OperationalError | psycopg.InternalError | psycopg.InterfaceError
    )


@contextlib.asynccontextmanager
async def _pipeline(conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[None]:
    """psycopg's pipeline mode, but after an error the answers of the statements it made
    the server skip are read here, so that leaving the pipeline does not log them again."""
    async with conn.pipeline() as pipeline:
        try:
            yield
        except psycopg.Error:
            with contextlib.suppress(psycopg.Error):
                await pipeline.sync()
            raise


def _runs(batch: list[Entry]) -> list[list[Entry]]:
    """Split a batch into runs: consecutive inserts into the same table, or single jobs."""
    runs: list[list[Entry]] = []
    for entry in batch:
        job = entry[0]
        last = runs[-1][-1][0] if runs else None
        if isinstance(job, Insert) and isinstance(last, Insert) and last.into is job.into:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


def _rows(run: list[Entry]) -> list[Sequence[object]]:
    return [job.row for job, _ in run if isinstance(job, Insert)]


async def _pipelined(conn: psycopg.AsyncConnection[Any], batch: list[Entry]) -> list[Result]:
    """The whole batch in one transaction and one round trip; raises the first error."""
    results: list[Result] = []
    async with _pipeline(conn):
        cursor = conn.cursor()
        await cursor.execute("BEGIN")
        for run in _runs(batch):
            first = run[0][0]
            if isinstance(first, Insert):
                await cursor.execute(first.into.sql, first.into.arrays(_rows(run)))
                results.extend(_none for _ in run)
            else:
                results.append(await _send(conn, cursor, first))
        await cursor.execute("COMMIT")
    return results


async def _send(
    conn: psycopg.AsyncConnection[Any],
    cursor: psycopg.AsyncCursor[Any],
    job: Do,
    prepare: bool | None = None,
) -> Result:
    *steps, (last_sql, last_params) = job.steps
    for sql, params in steps:
        await cursor.execute(sql, params, prepare=prepare)
    if not job.count:
        await cursor.execute(last_sql, last_params, prepare=prepare)
        return _none
    counted = conn.cursor()  # a cursor of its own: its rowcount is this statement's
    await counted.execute(last_sql, last_params, prepare=prepare)
    return lambda: counted.rowcount == 1


async def _one_by_one(conn: psycopg.AsyncConnection[Any], batch: list[Entry]) -> list[Outcome]:
    """After a failed batch: again in one transaction, each job in a savepoint of its own
    (a round trip each), so that only the failing jobs fail."""
    outcomes: list[Outcome] = []
    await conn.execute("BEGIN")
    for run in _runs(batch):
        first = run[0][0]
        if isinstance(first, Insert):
            rows = _rows(run)
            _, error = await _saved(conn, Do([(first.into.sql, first.into.arrays(rows))]))
            if error is None:
                outcomes.extend((f, None, None) for _, f in run)
                continue
            for row, (_, future) in zip(rows, run, strict=True):  # failed whole: row by row
                alone = Do([(first.into.sql, first.into.arrays([row]))])
                outcomes.append((future, *await _saved(conn, alone)))
        else:
            outcomes.append((run[0][1], *await _saved(conn, first)))
    await conn.execute("COMMIT")
    return outcomes


async def _saved(conn: psycopg.AsyncConnection[Any], job: Do) -> tuple[Any, BaseException | None]:
    """`job` in a savepoint: its result, or the error that rolled it (alone) back."""
    try:  # (nothing prepared here: a statement the error made the server skip is unknown)
        async with _pipeline(conn):
            cursor = conn.cursor()
            await cursor.execute("SAVEPOINT job", prepare=False)
            result = await _send(conn, cursor, job, prepare=False)
            await cursor.execute("RELEASE job", prepare=False)
    except Exception as exc:
        if _stops(conn, exc):
            raise
        await conn.execute("ROLLBACK TO job")
        await conn.execute("RELEASE job")
        return None, exc
    return result(), None
