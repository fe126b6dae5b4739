"""As SQLite's 0015: a SKU's cost may be 0 (a free add-on: its margin is known) apart
from not given (NULL, no margin); every 0 kept, which meant not given, becomes NULL.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("skus", "cost", existing_type=sa.Integer, nullable=True)
    op.execute("UPDATE skus SET cost = NULL WHERE cost = 0")


def downgrade() -> None:
    op.execute("UPDATE skus SET cost = 0 WHERE cost IS NULL")
    op.alter_column("skus", "cost", existing_type=sa.Integer, nullable=False)
