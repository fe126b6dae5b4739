"""A refunded order that had not shipped keeps no ship date (it will not ship): the orders
refunded before this rule lose the date they kept, as those refunded since do.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE orders SET ship_date = NULL"
        " WHERE status = 'refunded' AND shipped_at IS NULL AND ship_date IS NOT NULL"
    )


def downgrade() -> None:
    pass  # the dates are gone: an older version shows none for these orders, which is true
