"""Sell for real: where orders ship, fans' language and time zone, erasure, the e-mail
outbox, product images and specs, the shop's look, single-use sign-in links, and marks on
what a rehearsal made.

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

TEXT, INT = sa.Text, sa.Integer


def upgrade() -> None:
    with op.batch_alter_table("fans") as fans:
        fans.add_column(sa.Column("shipping", TEXT))  # JSON of a ShippingAddress
        fans.add_column(sa.Column("locale", TEXT))
        fans.add_column(sa.Column("time_zone", TEXT))
        fans.add_column(sa.Column("erased_at", TEXT))
        fans.add_column(sa.Column("rehearsal", TEXT))
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("shipping", TEXT))
    with op.batch_alter_table("products") as products:
        products.add_column(sa.Column("specs", TEXT, nullable=False, server_default="[]"))
        products.add_column(sa.Column("images", TEXT, nullable=False, server_default="[]"))
        products.add_column(sa.Column("rehearsal", TEXT))
    with op.batch_alter_table("launches") as launches:
        launches.add_column(sa.Column("rehearsal", TEXT))
    # The e-mail outbox is the notifications table: what was written before this version
    # was shown in-app only ('none'); new notifications start 'pending'.
    with op.batch_alter_table("notifications") as notes:
        notes.add_column(sa.Column("email_state", TEXT, nullable=False, server_default="none"))
        notes.add_column(sa.Column("email_attempts", INT, nullable=False, server_default="0"))
        notes.add_column(sa.Column("email_next_at", TEXT))
        notes.add_column(sa.Column("email_sent_at", TEXT))
        notes.add_column(sa.Column("email_error", TEXT))
    op.create_index(
        "notifications_to_email",
        "notifications",
        ["email_next_at"],
        sqlite_where=sa.text("email_state = 'pending'"),
    )
    op.create_table(
        "media",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("content_type", TEXT, nullable=False),
        sa.Column("width", INT, nullable=False),
        sa.Column("height", INT, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_table(
        "shop",
        sa.Column("key", TEXT, primary_key=True),
        sa.Column("value", TEXT, nullable=False),
    )
    op.create_table(
        "used_links",
        sa.Column("key", TEXT, primary_key=True),
        sa.Column("expires_at", TEXT, nullable=False),
    )


def downgrade() -> None:
    for table in ("used_links", "shop", "media"):
        op.drop_table(table)
    op.drop_index("notifications_to_email", "notifications")
    with op.batch_alter_table("notifications") as notes:
        for column in ("email_error", "email_sent_at", "email_next_at", "email_attempts"):
            notes.drop_column(column)
        notes.drop_column("email_state")
    with op.batch_alter_table("launches") as launches:
        launches.drop_column("rehearsal")
    with op.batch_alter_table("products") as products:
        for column in ("rehearsal", "images", "specs"):
            products.drop_column(column)
    with op.batch_alter_table("orders") as orders:
        orders.drop_column("shipping")
    with op.batch_alter_table("fans") as fans:
        for column in ("rehearsal", "erased_at", "time_zone", "locale", "shipping"):
            fans.drop_column(column)
