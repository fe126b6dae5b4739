"""Fans and fairness: launch rules beyond the first ones (account age, waiting room, proof
of work, duplicate buyers), pause and draw state, a SKU on reservations (a draw entry),
code expiry and any-SKU codes, fans' shipping address and phone, and the audit log.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TEXT, INT = sa.Text, sa.Integer


def upgrade() -> None:
    with op.batch_alter_table("launches") as launches:
        launches.add_column(sa.Column("more_rules", TEXT, nullable=False, server_default="{}"))
        launches.add_column(sa.Column("paused_at", TEXT))
        launches.add_column(sa.Column("draw_commitment", TEXT))
        launches.add_column(sa.Column("drawn_at", TEXT))
    with op.batch_alter_table("reservations") as reservations:
        reservations.add_column(sa.Column("sku", TEXT))
    with op.batch_alter_table("priority_codes") as codes:
        codes.add_column(sa.Column("expires_at", TEXT))
        codes.add_column(sa.Column("any_sku", INT, nullable=False, server_default="0"))
        codes.add_column(sa.Column("granted_to", TEXT))
    with op.batch_alter_table("fans") as fans:
        fans.add_column(sa.Column("address", TEXT))
        fans.add_column(sa.Column("phone", TEXT))
    op.create_table(
        "audit_log",
        sa.Column("id", INT, primary_key=True, autoincrement=True),
        sa.Column("at", TEXT, nullable=False),
        sa.Column("actor", TEXT, nullable=False),
        sa.Column("action", TEXT, nullable=False),
        sa.Column("subject", TEXT, nullable=False),
        sa.Column("detail", TEXT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    with op.batch_alter_table("fans") as fans:
        fans.drop_column("phone")
        fans.drop_column("address")
    with op.batch_alter_table("priority_codes") as codes:
        for column in ("granted_to", "any_sku", "expires_at"):
            codes.drop_column(column)
    with op.batch_alter_table("reservations") as reservations:
        reservations.drop_column("sku")
    with op.batch_alter_table("launches") as launches:
        for column in ("drawn_at", "draw_commitment", "paused_at", "more_rules"):
            launches.drop_column(column)
