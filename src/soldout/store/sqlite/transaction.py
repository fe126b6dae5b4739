"""A transaction block on SQLite: its writes become one job of the group commit.

    async with store.transaction() as tx:
        tx.orders.update([order])
        tx.notifications.add_many(notes)

Each write's job is noted as it is made (its rows taken from its arguments then); at the
block's exit the jobs go to the writer as one job, run in one savepoint, so many blocks
(and single writes) still share one commit and one fsync, and a block whose statement
fails rolls back alone while the others in the same commit stay. A block that raises
queues nothing.
"""

from __future__ import annotations

import asyncio
from functools import cached_property

from soldout.store.sqlite.access import BlockSessions, BlockTeam
from soldout.store.sqlite.after_sale import (
    BlockAudit,
    BlockNotifications,
    BlockOrders,
    BlockPayments,
    BlockPlans,
    SqliteNotifications,
)
from soldout.store.sqlite.fans import BlockFans, SqliteFans
from soldout.store.sqlite.rehearsals import BlockRehearsals
from soldout.store.sqlite.repos import (
    BlockClaims,
    BlockCodes,
    BlockLaunches,
    BlockProducts,
    BlockReservations,
)
from soldout.store.sqlite.site import BlockBoard, BlockMedia, BlockShop
from soldout.store.sqlite.writer import Block, GroupCommitWriter
from soldout.store.transaction_base import BlockTransaction, repository

__all__ = ["SqliteTransaction"]


class SqliteTransaction(BlockTransaction[Block]):
    """`async with` it; the writes go through its repositories (`tx.claims`, ...)."""

    def __init__(
        self,
        writer: GroupCommitWriter,
        fans: SqliteFans,
        notifications: SqliteNotifications,
    ) -> None:
        super().__init__(writer, Block(asyncio.get_running_loop().create_future()))
        self._fans, self._notifications = fans, notifications

    products = repository(BlockProducts)
    launches = repository(BlockLaunches)
    reservations = repository(BlockReservations)
    claims = repository(BlockClaims)
    codes = repository(BlockCodes)
    orders = repository(BlockOrders)
    payments = repository(BlockPayments)
    plans = repository(BlockPlans)
    audit = repository(BlockAudit)
    media = repository(BlockMedia)
    shop = repository(BlockShop)
    board = repository(BlockBoard)
    rehearsals = repository(BlockRehearsals)
    team = repository(BlockTeam)
    sessions = repository(BlockSessions)

    @cached_property
    def fans(self) -> BlockFans:
        return BlockFans(self._block, self._fans)

    @cached_property
    def notifications(self) -> BlockNotifications:
        return BlockNotifications(self._block, self._notifications)
