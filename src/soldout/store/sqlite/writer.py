"""Group commit: one thread owns the SQLite write connection and commits many writes at once.

Callers on the event loop `submit()` a function of the connection and await its future.
The thread takes everything queued, runs each job in its own savepoint, commits once
(synchronous=FULL: the WAL is fsynced before COMMIT returns) and only then resolves the
futures. While one batch commits the next one queues, so batches form by themselves under
load (no timer, no added latency when idle). Jobs commit in submission order.

If a commit fails the writer stops (fail-stop): every pending and later write is refused
with `StorageUnavailable`, because the engine's counters may now be ahead of the disk. A
restart rebuilds them from what is durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from soldout.domain.errors import StorageUnavailable

__all__ = ["GroupCommitWriter", "connect"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", bool]
_STOP = object()


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class GroupCommitWriter:
    def __init__(self, path: Path, max_batch: int = 2048) -> None:
        self._path = path
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failed: BaseException | None = None
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="soldout-writer", daemon=True
        )
        self._thread.start()
        ready.wait()

    def submit(
        self, job: Callable[[sqlite3.Connection], T], *, savepoint: bool = True
    ) -> asyncio.Future[T]:
        """Queue `job(conn)`; the future resolves after the batch holding it is durable.

        `savepoint=False` is for jobs of a single statement, which SQLite already makes
        atomic; it saves two statements on the hot path.
        """
        if self.failed is not None:
            raise StorageUnavailable()
        assert self._loop is not None, "writer not started"
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((job, future, savepoint))
        return future

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    # -- the writer thread -----------------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        conn = connect(self._path)
        ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch: list[Job] = [first]  # type: ignore[list-item]
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)  # type: ignore[arg-type]
                self._commit(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Job]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        if self.failed is not None:
            outcomes = [(f, None, StorageUnavailable()) for _, f, _ in batch]
        else:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for job, future, savepoint in batch:
                    outcomes.append((future, *self._apply(conn, job, savepoint)))
                conn.execute("COMMIT")
                self.batches += 1
                self.jobs += len(batch)
            except Exception as exc:  # the disk, not a job: stop writing
                log.critical("commit failed, refusing all further writes: %s", exc)
                self.failed = exc
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                outcomes = [(f, None, StorageUnavailable()) for _, f, _ in batch]
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, outcomes)

    @staticmethod
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


def _resolve(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
