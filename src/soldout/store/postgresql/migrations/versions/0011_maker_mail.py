"""As SQLite's 0018: `admin_accounts.maker_mail`, whether the member wants the maker's
e-mails; on for every account until the member turns it off.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "admin_accounts",
        sa.Column("maker_mail", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )


def downgrade() -> None:
    op.drop_column("admin_accounts", "maker_mail")
