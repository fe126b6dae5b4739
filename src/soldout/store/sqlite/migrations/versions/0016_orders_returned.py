"""`orders_returned`, partial over the orders refunded after they shipped, (launch_id, sku,
quantity): the units `OrderRepository.returned` sums at start, units gone from stock that
are no sale (few rows: the index costs the other orders' writes nothing).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "orders_returned",
        "orders",
        ["launch_id", "sku", "quantity"],
        sqlite_where=sa.text("status = 'refunded' AND shipped_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("orders_returned", table_name="orders")
