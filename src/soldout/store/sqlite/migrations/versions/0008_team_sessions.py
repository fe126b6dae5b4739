"""The admin team and browser sessions (docs/security.md).

`admin_accounts`: one row per person, the e-mail unique, the password as an argon2id hash.
`admin_invites`: an invite by the digest of its link's key, spent once (`used_at`).
`sessions`: a browser session by the digest of its id (the cookie holds the id); a
sign-out deletes its row, and expired rows with it. `fan_token_generations`:
a fan's bearer tokens signed with an older generation no longer work ("sign out
everywhere"); fans who never did that have no row (generation 0).

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

TEXT = sa.Text


def upgrade() -> None:
    op.create_table(
        "admin_accounts",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("email", TEXT, nullable=False, unique=True),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("role", TEXT, nullable=False),
        sa.Column("password_hash", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("invited_by", TEXT),
    )
    op.create_table(
        "admin_invites",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("email", TEXT, nullable=False),
        sa.Column("role", TEXT, nullable=False),
        sa.Column("invited_by", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("expires_at", TEXT, nullable=False),
        sa.Column("used_at", TEXT),
    )
    op.create_table(
        "sessions",
        sa.Column("digest", TEXT, primary_key=True),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("subject", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("expires_at", TEXT, nullable=False),
    )
    op.create_table(
        "fan_token_generations",
        sa.Column("fan_id", TEXT, primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("changed_at", TEXT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fan_token_generations")
    op.drop_table("sessions")
    op.drop_table("admin_invites")
    op.drop_table("admin_accounts")
