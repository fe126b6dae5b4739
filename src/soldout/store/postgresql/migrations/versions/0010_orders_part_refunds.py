"""As SQLite's 0017: an order keeps its part refunds as JSON text (NULL: none).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("refunds", sa.Text))


def downgrade() -> None:
    op.drop_column("orders", "refunds")
