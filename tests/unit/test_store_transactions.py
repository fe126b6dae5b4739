"""The store's unit of work: `async with store.transaction() as tx:` commits all of its
writes or none, alone, and in issue order; the SQLite and PostgreSQL adapters still share
one commit between many blocks; the in-memory fake can be told to fail one.

PostgreSQL: one server for the session, a fresh database per test (tests/postgres.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from soldout.domain.audit import AuditEntry
from soldout.domain.errors import StorageUnavailable
from soldout.domain.sessions import Session, SessionKind
from soldout.store.memory import InMemoryStore, MemoryTransaction
from soldout.store.ports import Store, Transaction
from soldout.store.postgresql import PostgresStore
from soldout.store.postgresql.repos import RESERVATIONS
from soldout.store.postgresql.writer import Block, Do, Insert
from soldout.store.sqlite import SqliteStore

pytest_plugins = ["tests.postgres"]

AT = datetime(2030, 1, 1, tzinfo=UTC)


def entry(subject: str) -> AuditEntry:
    return AuditEntry(AT, "test", "noted", subject, {})


def session(digest: str) -> Session:
    return Session(digest, SessionKind.FAN, "fan_1", AT, AT + timedelta(days=1))


async def subjects(store: Store) -> list[str]:
    return sorted(e.subject for e in await store.audit.recent(100))


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "soldout.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def pg_store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(postgres_url)
    await store.open()
    yield store
    await store.close()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield InMemoryStore()
        return
    store: SqliteStore | PostgresStore
    if request.param == "postgresql":
        store = PostgresStore(request.getfixturevalue("postgres_url"))
    else:
        store = SqliteStore(tmp_path / "soldout.db")
    await store.open()
    yield store
    await store.close()


async def test_a_block_commits_all_its_writes_at_its_exit(store: Store) -> None:
    async with store.transaction() as tx:
        tx.audit.add(entry("a"))
        tx.sessions.add(session("s1"))
        assert await subjects(store) == []  # reads see what is durable, not the block
    assert tx.durable.done()
    assert tx.durable.exception() is None
    assert await subjects(store) == ["a"]
    assert [s.digest for s in await store.sessions.live(AT)] == ["s1"]


class ChangedMyMind(Exception):
    pass


async def test_a_block_that_raises_writes_nothing(store: Store) -> None:
    async def change_of_mind() -> Transaction:
        async with store.transaction() as tx:
            tx.audit.add(entry("a"))
            raise ChangedMyMind(tx)

    with pytest.raises(ChangedMyMind) as raised:
        await change_of_mind()
    tx: Transaction = raised.value.args[0]
    assert tx.durable.cancelled()
    assert await subjects(store) == []
    with pytest.raises(RuntimeError):
        tx.audit.add(entry("late"))  # the block is over


async def test_blocks_and_single_writes_keep_their_issue_order(store: Store) -> None:
    async with store.transaction() as tx:
        tx.sessions.add(session("s1"))
    ended = store.sessions.end(["s1"], AT)  # issued after the block: applied after it
    async with store.transaction() as tx:
        tx.sessions.add(session("s2"))
    await ended
    assert [s.digest for s in await store.sessions.live(AT)] == ["s2"]


async def test_health_counts_commits_and_listeners_hear_them(store: Store) -> None:
    heard: list[int] = []
    store.on_commit(lambda writes, seconds: heard.append(writes))
    before = store.health()
    async with store.transaction() as tx:
        tx.audit.add(entry("a"))
        tx.audit.add(entry("b"))
    await store.audit.add(entry("c"))
    after = store.health()
    assert after.failed is None
    assert after.writes - before.writes == 2  # the block is one write, whatever it holds
    assert 1 <= after.transactions - before.transactions <= 2
    assert sum(heard) == 2


async def test_a_cancelled_caller_leaves_the_block_to_commit(store: Store) -> None:
    told: list[bool] = []
    blocks: list[Transaction] = []

    async def write() -> None:
        async with store.transaction() as tx:
            blocks.append(tx)
            tx.durable.add_done_callback(lambda done: told.append(done.exception() is None))
            tx.audit.add(entry("a"))

    writing = asyncio.ensure_future(write())
    await asyncio.sleep(0)  # inside the exit, waiting for the commit (or just past it)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    # the commit goes on: at once in memory, a tick later on SQLite, a round trip later
    # on PostgreSQL
    await asyncio.wait([blocks[0].durable], timeout=10)
    for _ in range(3):
        await asyncio.sleep(0)
    assert told == [True]
    assert await subjects(store) == ["a"]


# -- SQLite: one job of the group commit --------------------------------------------------


async def test_a_failing_statement_rolls_back_its_block_alone_in_a_shared_commit(
    sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    store = sqlite_store
    await store.sessions.add(session("taken"))

    async def failing() -> None:
        async with store.transaction() as tx:
            tx.audit.add(entry("a1"))
            tx.sessions.add(session("taken"))  # the same digest again: refused
            tx.audit.add(entry("a2"))

    async def fine() -> None:
        async with store.transaction() as tx:
            tx.audit.add(entry("b1"))
            tx.sessions.add(session("new"))

    async def single() -> None:
        await store.audit.add(entry("c"))

    before = store.health().transactions
    outcomes = await asyncio.gather(failing(), fine(), single(), return_exceptions=True)
    assert isinstance(outcomes[0], sqlite3.IntegrityError)
    assert list(outcomes[1:]) == [None, None]
    assert store.health().transactions == before + 1  # one commit, one fsync for all three

    await store.close()
    reopened = SqliteStore(tmp_path / "soldout.db")
    await reopened.open()
    try:
        assert await subjects(reopened) == ["b1", "c"]  # nothing of the failed block
        assert sorted(s.digest for s in await reopened.sessions.live(AT)) == ["new", "taken"]
    finally:
        await reopened.close()
    await store.open()  # (for the fixture's close)


async def test_many_blocks_share_one_commit(sqlite_store: SqliteStore) -> None:
    store = sqlite_store

    async def block(i: int) -> None:
        async with store.transaction() as tx:
            tx.audit.add(entry(f"e{i}"))
            tx.sessions.add(session(f"s{i}"))

    before = store.health()
    await asyncio.gather(*(block(i) for i in range(50)))
    after = store.health()
    assert after.transactions == before.transactions + 1
    assert after.writes == before.writes + 50
    assert len(await subjects(store)) == 50


async def test_a_stopped_store_refuses_a_block_and_says_why(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    told: list[BaseException | None] = []
    store.writer.failed = OSError(28, "No space left on device")  # as after a failed commit

    async def write() -> None:
        async with store.transaction() as tx:
            tx.durable.add_done_callback(lambda done: told.append(done.exception()))
            tx.audit.add(entry("a"))

    with pytest.raises(StorageUnavailable):
        await write()
    assert len(told) == 1
    assert isinstance(told[0], StorageUnavailable)
    failed = store.health().failed
    assert failed is not None
    assert "no space left" in failed


async def test_a_listener_that_raises_does_not_stop_the_store(sqlite_store: SqliteStore) -> None:
    def broken(writes: int, seconds: float) -> None:
        raise RuntimeError("metrics are down")

    sqlite_store.on_commit(broken)
    await sqlite_store.audit.add(entry("a"))
    async with sqlite_store.transaction() as tx:
        tx.audit.add(entry("b"))
    assert sqlite_store.health().failed is None
    assert await subjects(sqlite_store) == ["a", "b"]


# -- PostgreSQL: one job of the group commit, one savepoint if its batch is sent again ------


async def test_a_failing_statement_rolls_back_its_pg_block_alone_in_a_shared_commit(
    pg_store: PostgresStore, postgres_url: str
) -> None:
    store = pg_store
    await store.sessions.add(session("taken"))

    async def failing() -> None:
        async with store.transaction() as tx:
            tx.audit.add(entry("a1"))
            tx.sessions.add(session("taken"))  # the same digest again: refused
            tx.audit.add(entry("a2"))

    async def fine() -> None:
        async with store.transaction() as tx:
            tx.audit.add(entry("b1"))
            tx.sessions.add(session("new"))

    async def single() -> None:
        await store.audit.add(entry("c"))

    before = store.health()
    outcomes = await asyncio.gather(failing(), fine(), single(), return_exceptions=True)
    assert isinstance(outcomes[0], psycopg.errors.UniqueViolation)
    assert list(outcomes[1:]) == [None, None]
    after = store.health()
    assert after.transactions == before.transactions + 1  # one commit for all three
    assert after.writes == before.writes + 3  # each block one write
    assert after.failed is None

    await store.close()
    reopened = PostgresStore(postgres_url)
    await reopened.open()
    try:
        assert await subjects(reopened) == ["b1", "c"]  # nothing of the failed block
        assert sorted(s.digest for s in await reopened.sessions.live(AT)) == ["new", "taken"]
    finally:
        await reopened.close()
    await store.open()  # (for the fixture's close)


async def test_pg_blocks_share_one_commit_and_keep_their_inserts_in_order(
    pg_store: PostgresStore,
) -> None:
    store = pg_store

    async def block(i: int) -> None:
        async with store.transaction() as tx:
            tx.audit.add(entry(f"e{i}"))
            tx.sessions.add(session(f"s{i}"))
            tx.sessions.add(session(f"t{i}"))

    before = store.health()
    await asyncio.gather(*(block(i) for i in range(50)))
    after = store.health()
    assert after.transactions == before.transactions + 1
    assert after.writes == before.writes + 50
    assert len(await subjects(store)) == 50
    assert len(await store.sessions.live(AT)) == 100


async def test_a_stopped_pg_store_refuses_a_block_and_says_why(pg_store: PostgresStore) -> None:
    store = pg_store
    told: list[BaseException | None] = []
    store.writer.failed = psycopg.OperationalError("server closed the connection unexpectedly")

    async def write() -> None:
        async with store.transaction() as tx:
            tx.durable.add_done_callback(lambda done: told.append(done.exception()))
            tx.audit.add(entry("a"))

    with pytest.raises(StorageUnavailable):
        await write()
    assert len(told) == 1
    assert isinstance(told[0], StorageUnavailable)
    failed = store.health().failed
    assert failed is not None
    assert "server closed the connection" in failed
    store.writer.failed = None  # (for the fixture's close)


async def test_a_listener_that_raises_does_not_stop_the_pg_store(pg_store: PostgresStore) -> None:
    def broken(writes: int, seconds: float) -> None:
        raise RuntimeError("metrics are down")

    pg_store.on_commit(broken)
    await pg_store.audit.add(entry("a"))
    async with pg_store.transaction() as tx:
        tx.audit.add(entry("b"))
    assert pg_store.health().failed is None
    assert await subjects(pg_store) == ["a", "b"]


async def test_a_pg_block_sends_its_statements_in_order_a_run_of_rows_as_one() -> None:
    durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    block = Block(durable)
    first, second = (
        Insert(RESERVATIONS, ("r1", "l1", "f1", "t", None)),
        Insert(RESERVATIONS, ("r2", "l1", "f2", "t", None)),
    )
    block.add(Do([("SELECT 1", ())]))
    block.add(first)
    block.add(second)
    block.add(Do([("SELECT 2", ()), ("SELECT 3", ())]))
    block.add(Insert(RESERVATIONS, ("r3", "l1", "f3", "t", None)))
    steps = block.job().steps
    assert [sql for sql, _ in steps] == [
        "SELECT 1",
        RESERVATIONS.sql,
        "SELECT 2",
        "SELECT 3",
        RESERVATIONS.sql,
    ]
    assert steps[1][1] == RESERVATIONS.arrays([first.row, second.row])
    block.closed = True
    with pytest.raises(RuntimeError):
        block.add(first)


# -- the in-memory fake: failures on demand ---------------------------------------------


async def test_the_fake_fails_the_next_block_and_applies_nothing_of_it() -> None:
    store = InMemoryStore()
    store.fail_next_transaction(StorageUnavailable())
    blocks: list[MemoryTransaction] = []
    store.before_commit = blocks.append  # (sees it exit: never reached, it failed first)

    async def write() -> None:
        async with store.transaction() as tx:
            tx.audit.add(entry("a"))
            tx.sessions.add(session("s1"))

    with pytest.raises(StorageUnavailable):
        await write()
    assert blocks == []
    assert store.audit.rows == []
    assert store.sessions.rows == {}
    await _write(store, "b")  # once: the next block commits
    assert [tx.writes for tx in blocks] == [["audit.add"]]
    assert await subjects(store) == ["b"]


async def test_the_fake_can_hold_a_block_in_flight() -> None:
    store = InMemoryStore()
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    store.before_commit = lambda tx: gate
    writing = asyncio.ensure_future(_write(store, "a"))
    await asyncio.sleep(0)
    assert not writing.done()
    assert store.audit.rows == []
    gate.set_result(None)
    await writing
    assert await subjects(store) == ["a"]


async def test_a_crash_copy_keeps_what_was_written_not_the_hooks() -> None:
    store = InMemoryStore()
    store.on_commit(lambda writes, seconds: None)
    store.before_commit = lambda tx: None
    await _write(store, "a")
    copied = store.crash_copy()
    assert copied.before_commit is None
    assert copied.journal.listeners == []
    assert await subjects(copied) == ["a"]
    assert copied.health() == store.health()


async def _write(store: Store, subject: str) -> None:
    async with store.transaction() as tx:
        tx.audit.add(entry(subject))
