"""An order keeps its part refunds (money given back while it stands), as JSON: each
refund's id, the caller's key, amount in minor units, reason and times. NULL: none, as for
every order before this.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("refunds", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.drop_column("refunds")
