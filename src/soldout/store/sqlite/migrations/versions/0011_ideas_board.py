"""The ideas board (`store/rows_board.py`): its records as JSON documents, and the marks
that must be exactly once per fan (a vote for an idea, an answer to a poll) under their
primary key (subject, fan_id).

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


def _text(name: str, *, key: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=False, primary_key=key)


def upgrade() -> None:
    op.create_table(
        "board_docs",
        _text("id", key=True),
        _text("kind"),
        _text("product_id"),
        _text("body"),
        _text("at"),
    )
    op.create_table(
        "board_marks",
        _text("subject", key=True),
        _text("fan_id", key=True),
        _text("value"),
        _text("at"),
    )


def downgrade() -> None:
    op.drop_table("board_marks")
    op.drop_table("board_docs")
