"""As SQLite's 0014: when a fan first signed in by a link mailed to their address (until
then anyone could have made the account with it); NULL for fans from before this.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("fans", sa.Column("email_proven_at", sa.Text))


def downgrade() -> None:
    op.drop_column("fans", "email_proven_at")
