"""Orders remember the ship date their fan was last told, so moved dates are told from
an outbox that resumes after a crash.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("notified_ship_date", sa.Text))
    op.execute("UPDATE orders SET notified_ship_date = ship_date")


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.drop_column("notified_ship_date")
