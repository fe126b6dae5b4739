"""As SQLite's 0010: indexes that answer the start's two tallies from the index alone (an
index-only scan once vacuum has marked the pages visible), so that a shop with a million
orders still starts in a second or two (benchmarks/history.py):

- `claims_by_launch` becomes (launch_id, sku, state, quantity): still the index of a
  launch's claims, and now covering `ClaimRepository.tally`. A claim adds one entry, as
  before;
- `orders_shipped`, partial over shipped orders, (launch_id, sku, quantity): the units
  `OrderRepository.shipped` sums.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("claims_by_launch", table_name="claims")
    op.create_index("claims_by_launch", "claims", ["launch_id", "sku", "state", "quantity"])
    op.create_index(
        "orders_shipped",
        "orders",
        ["launch_id", "sku", "quantity"],
        postgresql_where=sa.text("shipped_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("orders_shipped", table_name="orders")
    op.drop_index("claims_by_launch", table_name="claims")
    op.create_index("claims_by_launch", "claims", ["launch_id"])
