"""A fan's e-mail is proven when they first sign in by a link mailed to it; the sessions
and tokens made before that end then (anyone could have made the account with that
address). Fans from before this have not proven it yet: their first link does it.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fans") as fans:
        fans.add_column(sa.Column("email_proven_at", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("fans") as fans:
        fans.drop_column("email_proven_at")
