"""Fulfilment and payments: order shipping and refund columns, order history, payment
records, seen webhook events, production plans, and the notifications outbox.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TEXT, INT = sa.Text, sa.Integer


def upgrade() -> None:
    with op.batch_alter_table("orders") as orders:
        orders.add_column(sa.Column("shipped_at", TEXT))
        orders.add_column(sa.Column("carrier", TEXT))
        orders.add_column(sa.Column("tracking_number", TEXT))
        orders.add_column(sa.Column("refunded_at", TEXT))
    op.create_index("orders_by_paid_at", "orders", ["paid_at", "id"])
    op.create_table(
        "order_events",
        sa.Column("id", INT, primary_key=True, autoincrement=True),
        sa.Column("order_id", TEXT, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("at", TEXT, nullable=False),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("detail", TEXT, nullable=False),
    )
    op.create_index("order_events_by_order", "order_events", ["order_id", "id"])
    op.create_table(
        "payments",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("claim_id", TEXT, sa.ForeignKey("claims.id"), nullable=False),
        sa.Column("fan_id", TEXT, nullable=False),
        sa.Column("provider", TEXT, nullable=False),
        sa.Column("method", TEXT, nullable=False),
        sa.Column("amount", INT, nullable=False),
        sa.Column("currency", TEXT, nullable=False),
        sa.Column("idempotency_key", TEXT, nullable=False),
        sa.Column("fingerprint", TEXT, nullable=False),
        sa.Column("state", TEXT, nullable=False),
        sa.Column("reference", TEXT),
        sa.Column("reason", TEXT),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
        sa.UniqueConstraint("fan_id", "idempotency_key", name="one_payment_per_key"),
        sa.CheckConstraint("amount > 0", name="payment_amount_positive"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("provider", TEXT, primary_key=True),
        sa.Column("event_id", TEXT, primary_key=True),
        sa.Column("received_at", TEXT, nullable=False),
    )
    op.create_table(
        "production_plans",
        sa.Column("product_id", TEXT, sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("sku", TEXT, primary_key=True),
        sa.Column("plan", TEXT, nullable=False),
        sa.Column("updated_at", TEXT, nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("fan_id", TEXT, nullable=False),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("message", TEXT, nullable=False),
        sa.Column("data", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_index("notifications_by_fan", "notifications", ["fan_id", "created_at"])


def downgrade() -> None:
    op.drop_index("notifications_by_fan", "notifications")
    for table in ("notifications", "production_plans", "webhook_events", "payments"):
        op.drop_table(table)
    op.drop_index("order_events_by_order", "order_events")
    op.drop_table("order_events")
    op.drop_index("orders_by_paid_at", "orders")
    with op.batch_alter_table("orders") as orders:
        for column in ("refunded_at", "tracking_number", "carrier", "shipped_at"):
            orders.drop_column(column)
