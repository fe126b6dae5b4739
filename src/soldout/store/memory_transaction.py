"""The in-memory store's transactions, and its count of commits.

A block's writes are noted as they are made and applied together when it exits, without
yielding: nothing else runs between them, and nothing of a block that raised is applied.
Tests decide how a commit ends, through the store (`InMemoryStore.fail_next_transaction`,
`InMemoryStore.before_commit`):

    store.fail_next_transaction(StorageUnavailable())
    with pytest.raises(StorageUnavailable):
        await platform.engine.pay(...)      # its block: nothing applied
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, cast

from soldout.store.ports import (
    AuditWrites,
    BoardWrites,
    ClaimWrites,
    CodeWrites,
    FanWrites,
    LaunchWrites,
    MediaWrites,
    NotificationWrites,
    OrderWrites,
    PaymentWrites,
    PlanWrites,
    ProductWrites,
    RehearsalWrites,
    ReservationWrites,
    SessionWrites,
    ShopWrites,
    TeamWrites,
    block_outcome,
)

__all__ = ["Journal", "MemoryTransaction"]


class Journal:
    """Counts the fake's commits (each write outside a block is one, each block is one) and
    tells the store's `on_commit` listeners, as an adapter's group commit would."""

    def __init__(self) -> None:
        self.transactions = 0
        self.writes = 0
        self.listeners: list[Callable[[int, float], None]] = []
        self._in_block = False

    def done(self) -> asyncio.Future[None]:
        """A write applied: its commit, and the future of its durability (resolved)."""
        self.count()
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def count(self) -> None:
        if self._in_block:
            return  # the block is the commit
        self._committed()

    def apply(self, writes: list[Callable[[], object]]) -> None:
        """Apply a block's writes as one commit."""
        self._in_block = True
        try:
            for write in writes:
                _finish(write())
        finally:
            self._in_block = False
        self._committed()

    def _committed(self) -> None:
        self.transactions += 1
        self.writes += 1
        for listener in self.listeners:
            listener(1, 0.0)

    def __deepcopy__(self, memo: dict[int, object]) -> Journal:
        """A crash copy keeps the counts, not who listened."""
        copied = Journal()
        copied.transactions, copied.writes = self.transactions, self.writes
        return copied


def _finish(result: object) -> None:
    """The fake's writes never wait: a coroutine (the catalogue's writes are `async`) runs
    to its end at once; a failed future fails the block (what it applied stays: inject a
    failure through the store instead, which applies nothing)."""
    if inspect.iscoroutine(result):
        try:
            result.send(None)
        except StopIteration:
            return
        result.close()
        raise RuntimeError("an in-memory write waited for something")
    if isinstance(result, asyncio.Future) and result.done() and not result.cancelled():
        error = result.exception()
        if error is not None:
            raise error


_NAMES: dict[type, frozenset[str]] = {}


def _write_names(protocol: type) -> frozenset[str]:
    names = _NAMES.get(protocol)
    if names is None:
        names = _NAMES[protocol] = frozenset(n for n in vars(protocol) if not n.startswith("_"))
    return names


class _Noted:
    """A repository inside a block: its write methods (those of `protocol`) are noted, and
    called on the repository itself when the block commits."""

    def __init__(self, tx: MemoryTransaction, name: str, repository: object, protocol: type):
        self._tx = tx
        self._name = name
        self._repository = repository
        self._names = _write_names(protocol)

    def __getattr__(self, method: str) -> Callable[..., None]:
        if method not in self._names:
            raise AttributeError(f"{self._name}.{method} is not a write of a transaction")
        repository = self._repository

        def note(*args: Any, **kwargs: Any) -> None:
            # looked up at commit: a test may have replaced the repository's method
            self._tx.note(
                f"{self._name}.{method}", lambda: getattr(repository, method)(*args, **kwargs)
            )

        return note


class MemoryTransaction:
    """`async with store.transaction() as tx:` on the in-memory store."""

    def __init__(self, store: object, commit: Callable[[MemoryTransaction], None]) -> None:
        """`store`: what holds the repositories by name; `commit`: the store's decision of
        how this block ends (it calls `apply`, or fails or holds it)."""
        self._commit = commit
        self.writes: list[str] = []  # what the block wrote ("claims.settle", ...), in order
        self._applied: list[Callable[[], object]] = []
        self._durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = False

        def noted(name: str, protocol: type) -> Any:
            return _Noted(self, name, getattr(store, name), protocol)

        self.products = cast(ProductWrites, noted("products", ProductWrites))
        self.launches = cast(LaunchWrites, noted("launches", LaunchWrites))
        self.fans = cast(FanWrites, noted("fans", FanWrites))
        self.reservations = cast(ReservationWrites, noted("reservations", ReservationWrites))
        self.claims = cast(ClaimWrites, noted("claims", ClaimWrites))
        self.codes = cast(CodeWrites, noted("codes", CodeWrites))
        self.orders = cast(OrderWrites, noted("orders", OrderWrites))
        self.payments = cast(PaymentWrites, noted("payments", PaymentWrites))
        self.plans = cast(PlanWrites, noted("plans", PlanWrites))
        self.notifications = cast(NotificationWrites, noted("notifications", NotificationWrites))
        self.audit = cast(AuditWrites, noted("audit", AuditWrites))
        self.media = cast(MediaWrites, noted("media", MediaWrites))
        self.shop = cast(ShopWrites, noted("shop", ShopWrites))
        self.board = cast(BoardWrites, noted("board", BoardWrites))
        self.rehearsals = cast(RehearsalWrites, noted("rehearsals", RehearsalWrites))
        self.team = cast(TeamWrites, noted("team", TeamWrites))
        self.sessions = cast(SessionWrites, noted("sessions", SessionWrites))

    @property
    def durable(self) -> asyncio.Future[None]:
        return self._durable

    def note(self, what: str, write: Callable[[], object]) -> None:
        if self._closed:
            raise RuntimeError("this transaction is over: write inside its `async with`")
        self.writes.append(what)
        self._applied.append(write)

    async def __aenter__(self) -> MemoryTransaction:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._closed = True
        if kind is not None:
            self._durable.cancel()
            return
        self._commit(self)
        await block_outcome(self._durable)

    def apply(self, journal: Journal) -> None:
        """Apply every write now, as one commit (the store's `_commit` decided it may)."""
        if self._durable.done():
            return
        try:
            if self._applied:
                journal.apply(self._applied)
        except Exception as failed:
            self._durable.set_exception(failed)
        else:
            self._durable.set_result(None)

    def fail(self, error: BaseException) -> None:
        """Nothing of the block is applied; its exit raises `error`."""
        if not self._durable.done():
            self._durable.set_exception(error)


BeforeCommit = Callable[[MemoryTransaction], Awaitable[None] | None]
