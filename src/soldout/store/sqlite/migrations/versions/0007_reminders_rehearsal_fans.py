"""How far each e-mail reminder got, and an index of the fans rehearsals made up.

`reminders`: "the sale opens in N minutes" per launch and opening time, "your claim
expires soon" per claim; written in the same transaction as the reminders' notifications,
so none is sent twice or skipped after a restart. `fans_of_rehearsals`: a rehearsal's fans
are found on start without reading every fan (partial: a real fan's row adds nothing).

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

TEXT = sa.Text


def upgrade() -> None:
    op.create_table(
        "reminders",
        sa.Column("key", TEXT, primary_key=True),
        sa.Column("progress", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_index(
        "fans_of_rehearsals",
        "fans",
        ["rehearsal"],
        sqlite_where=sa.text("rehearsal IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("fans_of_rehearsals", "fans")
    op.drop_table("reminders")
