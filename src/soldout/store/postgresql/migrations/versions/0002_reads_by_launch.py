"""Indexes for reading a launch's records, not every record, as SQLite's 0009 (see its
docstring): `claims_by_launch`, `orders_by_launch` and `payments_by_claim`.

Built inside the migration's transaction (not CONCURRENTLY): the store's lock is held and
no server serves the database while it runs; writes to these tables wait for it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
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
        op.create_index(name, table, columns, postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, table, _, _ in reversed(OPEN):
        op.drop_index(name, table_name=table)
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
