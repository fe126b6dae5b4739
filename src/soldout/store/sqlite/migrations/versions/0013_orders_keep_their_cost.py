"""An order keeps its SKU's cost per unit from when it was paid, so that a later change of
the product's cost leaves the margin of what sold before alone. Orders paid before this
have none (NULL): their margin uses the product's cost, as it did.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("unit_cost", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.drop_column("unit_cost")
