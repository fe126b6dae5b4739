"""What both adapters' transaction blocks share: the block of jobs noted in order
(`JobBlock`, each writer's `Block` adds how it runs them) and the `async with` around it
(`BlockTransaction`): at the exit, a block that raised queues nothing, an empty one is
durable at once, and the rest goes to the writer as one job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import cached_property
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from soldout.domain.errors import StorageUnavailable
from soldout.store.ports import block_outcome

__all__ = ["BlockTransaction", "JobBlock", "repository"]

J = TypeVar("J")
R = TypeVar("R")


class JobBlock(Generic[J]):
    """The jobs of one transaction block, in the order noted. `durable` is its outcome."""

    def __init__(self, durable: asyncio.Future[None]) -> None:
        self.durable = durable
        self.jobs: list[J] = []
        self.closed = False

    def add(self, job: J) -> None:
        if self.closed:
            raise RuntimeError("this transaction is over: write inside its `async with`")
        self.jobs.append(job)


B_contra = TypeVar("B_contra", bound="JobBlock[Any]", contravariant=True)


class _Writer(Protocol[B_contra]):
    def submit_block(self, block: B_contra) -> None: ...


BT = TypeVar("BT", bound="JobBlock[Any]")


class BlockTransaction(Generic[BT]):
    """`async with` it; an adapter's subclass holds the block's repositories."""

    def __init__(self, writer: _Writer[BT], block: BT) -> None:
        self._writer = writer
        self._block = block

    @property
    def durable(self) -> asyncio.Future[None]:
        return self._block.durable

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        block = self._block
        block.closed = True
        if kind is not None:  # nothing was queued: nothing is written
            block.durable.cancel()
            return
        if not block.jobs:
            block.durable.set_result(None)
        else:
            try:
                self._writer.submit_block(block)
            except StorageUnavailable as stopped:
                block.durable.set_exception(stopped)
        await block_outcome(block.durable)


def repository(kind: Callable[[Any], R]) -> cached_property[R]:
    """A block's repository of `kind`, made on first use: a transaction writes to two or
    three of its seventeen, and making them all cost a payment's block ~15 us."""

    def made(tx: BlockTransaction[Any]) -> R:
        return kind(tx._block)

    return cached_property(made)
