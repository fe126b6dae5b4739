"""The initial schema: products, SKUs, launches, fans, reservations, claims, orders, codes.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TEXT, INT = sa.Text, sa.Integer


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("description", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_table(
        "skus",
        sa.Column("product_id", TEXT, sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("code", TEXT, primary_key=True),
        sa.Column("position", INT, nullable=False),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("price", INT, nullable=False),
        sa.Column("cost", INT, nullable=False),
        sa.Column("currency", TEXT, nullable=False),
        sa.CheckConstraint("price >= 0 AND cost >= 0", name="money_not_negative"),
    )
    op.create_table(
        "launches",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("product_id", TEXT, sa.ForeignKey("products.id"), nullable=False),
        sa.Column("title", TEXT, nullable=False),
        sa.Column("reservations_open_at", TEXT),
        sa.Column("sale_opens_at", TEXT, nullable=False),
        sa.Column("sale_closes_at", TEXT),
        sa.Column("mode", TEXT, nullable=False),
        sa.Column("reservation_required", INT, nullable=False),
        sa.Column("per_fan_limit", INT, nullable=False),
        sa.Column("payment_window_seconds", INT, nullable=False),
        sa.Column("published", INT, nullable=False),
        sa.Column("cancelled_at", TEXT),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_table(
        "launch_batches",
        sa.Column("launch_id", TEXT, sa.ForeignKey("launches.id"), primary_key=True),
        sa.Column("sku", TEXT, primary_key=True),
        sa.Column("quantity", INT, nullable=False),
        sa.CheckConstraint("quantity >= 0", name="batch_not_negative"),
    )
    op.create_table(
        "fans",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("email", TEXT, nullable=False, unique=True),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("referral_code", TEXT, nullable=False, unique=True),
        sa.Column("referred_by", TEXT, sa.ForeignKey("fans.id")),
        sa.Column("created_at", TEXT, nullable=False),
    )
    op.create_table(
        "reservations",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("launch_id", TEXT, sa.ForeignKey("launches.id"), nullable=False),
        sa.Column("fan_id", TEXT, sa.ForeignKey("fans.id"), nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.UniqueConstraint("launch_id", "fan_id", name="one_reservation_per_fan"),
    )
    op.create_table(
        "claims",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("launch_id", TEXT, nullable=False),
        sa.Column("fan_id", TEXT, nullable=False),
        sa.Column("sku", TEXT, nullable=False),
        sa.Column("quantity", INT, nullable=False),
        sa.Column("unit_price", INT, nullable=False),
        sa.Column("currency", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("expires_at", TEXT, nullable=False),
        sa.Column("idempotency_key", TEXT, nullable=False),
        sa.Column("priority_code", TEXT),
        sa.Column("state", TEXT, nullable=False),
        sa.Column("closed_at", TEXT),
        sa.UniqueConstraint("fan_id", "idempotency_key", name="one_claim_per_key"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("state IN ('held', 'paid', 'expired', 'cancelled')", name="claim_state"),
    )
    op.create_table(
        "orders",
        sa.Column("id", TEXT, primary_key=True),
        sa.Column("claim_id", TEXT, sa.ForeignKey("claims.id"), nullable=False, unique=True),
        sa.Column("launch_id", TEXT, nullable=False),
        sa.Column("fan_id", TEXT, nullable=False),
        sa.Column("sku", TEXT, nullable=False),
        sa.Column("quantity", INT, nullable=False),
        sa.Column("total", INT, nullable=False),
        sa.Column("currency", TEXT, nullable=False),
        sa.Column("paid_at", TEXT, nullable=False),
        sa.Column("payment_method", TEXT, nullable=False),
        sa.Column("payment_reference", TEXT, nullable=False),
        sa.Column("idempotency_key", TEXT, nullable=False),
        sa.Column("status", TEXT, nullable=False),
        sa.Column("ship_date", TEXT),
    )
    op.create_index("orders_by_fan", "orders", ["fan_id"])
    op.create_table(
        "priority_codes",
        sa.Column("code", TEXT, primary_key=True),
        sa.Column("launch_id", TEXT, sa.ForeignKey("launches.id"), nullable=False),
        sa.Column("sku", TEXT, nullable=False),
        sa.Column("created_at", TEXT, nullable=False),
        sa.Column("redeemed_by_claim", TEXT, unique=True),
    )
    op.create_table(
        "secrets",
        sa.Column("name", TEXT, primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "secrets",
        "priority_codes",
        "orders",
        "claims",
        "reservations",
        "fans",
        "launch_batches",
        "launches",
        "skus",
        "products",
    ):
        op.drop_table(table)
