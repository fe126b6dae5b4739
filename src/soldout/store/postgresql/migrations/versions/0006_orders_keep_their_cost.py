"""As SQLite's 0013: an order keeps its SKU's cost per unit from when it was paid; orders
paid before this have none (NULL), and their margin uses the product's cost, as it did.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("unit_cost", sa.Integer))


def downgrade() -> None:
    op.drop_column("orders", "unit_cost")
