"""`admin_accounts.maker_mail`: whether the member wants the maker's e-mails (a launch
sold out, a payment given back, a refund a fan asked for); on for every account, as the
team page shows it until the member turns it off.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_accounts") as table:
        table.add_column(
            sa.Column("maker_mail", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )


def downgrade() -> None:
    with op.batch_alter_table("admin_accounts") as table:
        table.drop_column("maker_mail")
