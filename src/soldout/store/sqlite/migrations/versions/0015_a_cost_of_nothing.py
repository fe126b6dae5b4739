"""A SKU's cost may be 0 (a free add-on: its margin is known) apart from not given (NULL,
no margin). Until now 0 meant not given, so every 0 kept becomes NULL; taken back a step,
NULL is 0 again (an older version reads a real 0 as not given, as it always did).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("skus") as skus:
        skus.alter_column("cost", existing_type=sa.Integer, nullable=True)
    op.execute("UPDATE skus SET cost = NULL WHERE cost = 0")


def downgrade() -> None:
    op.execute("UPDATE skus SET cost = 0 WHERE cost IS NULL")
    with op.batch_alter_table("skus") as skus:
        skus.alter_column("cost", existing_type=sa.Integer, nullable=False)
