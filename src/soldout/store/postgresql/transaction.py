"""A transaction block on PostgreSQL: its writes become one job of the group commit.

    async with store.transaction() as tx:
        tx.orders.update([order])
        tx.notifications.add_many(notes)

Each write's job is noted as it is made (its rows taken from its arguments then); at the
block's exit they go to the writer as one `Do` holding all their statements in order, so
many blocks (and single writes) still share one commit and one round trip, and a block
whose statement fails rolls back alone (its batch is sent again job by job, the block in
one savepoint) while the others in the same commit stay. A block that raises queues
nothing.
"""

from __future__ import annotations

import asyncio
from functools import cached_property

from soldout.store.postgresql.access import BlockSessions, BlockTeam
from soldout.store.postgresql.after_sale import BlockAudit, BlockOrders, BlockPayments, BlockPlans
from soldout.store.postgresql.fans import BlockFans, PgFans
from soldout.store.postgresql.outbox import BlockNotifications, PgNotifications
from soldout.store.postgresql.rehearsals import BlockRehearsals
from soldout.store.postgresql.repos import (
    BlockClaims,
    BlockCodes,
    BlockLaunches,
    BlockProducts,
    BlockReservations,
)
from soldout.store.postgresql.site import BlockBoard, BlockMedia, BlockShop
from soldout.store.postgresql.writer import Block, PgWriter
from soldout.store.transaction_base import BlockTransaction, repository

__all__ = ["PgTransaction"]


class PgTransaction(BlockTransaction[Block]):
    """`async with` it; the writes go through its repositories (`tx.claims`, ...)."""

    def __init__(
        self,
        writer: PgWriter,
        fans: PgFans,
        notifications: PgNotifications,
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
