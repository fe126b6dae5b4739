"""Indexes for reading a launch's records, not every record: the engine loads only what
its live launches need (`ClaimRepository.of_launches`, `OrderRepository.of_launches`,
`PaymentRepository.of_claims` and `of_launches`).

`claims_by_launch`: unlike 0005's (fan_id, idempotency_key), its entries arrive in order:
a launch's claims come with growing rowids, so each group commit appends to the end of
one launch's range, a page or two, however many claims it carries (benchmarks/hotpath.py
measures the hot path with it). `orders_by_launch` and `payments_by_claim` are written
once per payment, off the hot path. `orders.claim_id` has its unique index already.

Building them reads each table once: seconds for millions of claims, on the first start
of this version.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = (
    ("claims_by_launch", "claims", "launch_id"),
    ("orders_by_launch", "orders", "launch_id"),
    ("payments_by_claim", "payments", "claim_id"),
)


# what every start reads of every launch, kept small: the orders still to ship and the
# payments still waiting on the provider (partial: a row leaves its index once settled)
OPEN = (
    ("orders_in_queue", "orders", ["paid_at", "id"], "status IN ('paid', 'scheduled')"),
    ("payments_unsettled", "payments", ["created_at", "id"], "state IN ('pending', 'authorized')"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])
    for name, table, columns, where in OPEN:
        op.create_index(name, table, columns, sqlite_where=sa.text(where))


def downgrade() -> None:
    for name, table, _, _ in reversed(OPEN):
        op.drop_index(name, table_name=table)
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
