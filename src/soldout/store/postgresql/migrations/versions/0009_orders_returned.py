"""As SQLite's 0016: `orders_returned`, partial over the orders refunded after they
shipped, (launch_id, sku, quantity): the units `OrderRepository.returned` sums at start.

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


def upgrade() -> None:
    op.create_index(
        "orders_returned",
        "orders",
        ["launch_id", "sku", "quantity"],
        postgresql_where=sa.text("status = 'refunded' AND shipped_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("orders_returned", table_name="orders")
