"""As SQLite's 0012: a refunded order that had not shipped keeps no ship date (it will
not ship); the orders refunded before this rule lose the date they kept.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE orders SET ship_date = NULL"
        " WHERE status = 'refunded' AND shipped_at IS NULL AND ship_date IS NOT NULL"
    )


def downgrade() -> None:
    pass  # the dates are gone: an older version shows none for these orders, which is true
