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
from soldout.store.transaction_base import BlockTransaction

__all__ = ["PgTransaction"]


class PgTransaction(BlockTransaction[Block]):
    """`async with` it; the writes go through its repositories (`tx.claims`, ...)."""

    def __init__(self, writer: PgWriter, fans: PgFans, notifications: PgNotifications) -> None:
        block = Block(asyncio.get_running_loop().create_future())
        super().__init__(writer, block)
        self.products = BlockProducts(block)
        self.launches = BlockLaunches(block)
        self.fans = BlockFans(block, fans)
        self.reservations = BlockReservations(block)
        self.claims = BlockClaims(block)
        self.codes = BlockCodes(block)
        self.orders = BlockOrders(block)
        self.payments = BlockPayments(block)
        self.plans = BlockPlans(block)
        self.notifications = BlockNotifications(block, notifications)
        self.audit = BlockAudit(block)
        self.media = BlockMedia(block)
        self.shop = BlockShop(block)
        self.board = BlockBoard(block)
        self.rehearsals = BlockRehearsals(block)
        self.team = BlockTeam(block)
        self.sessions = BlockSessions(block)
