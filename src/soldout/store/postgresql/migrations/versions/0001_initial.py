"""The whole schema, as SQLite's migrations 0001..0008 leave it (see their docstrings for
what each table is for).

Types: the rows are the SQLite adapter's (`store/sqlite/rows.py` builds and reads them for
both stores), so times stay ISO 8601 text in UTC, flags integers and JSON text. Every text
column compares byte by byte (`COLLATE "C"`), as SQLite's BINARY does: ids, codes and those
times then sort the same in both stores whatever the database's locale (under a locale
such as en_US, `ORDER BY created_at, id` would order ids by a dictionary's rules instead),
and comparing them is cheaper. What PostgreSQL adds: `bigint` for SQLite's 64-bit integers
(money in minor units), `bytea` for bytes, identity columns for the counters, and a `seq`
identity where the SQLite adapter orders by `rowid` (a launch's SKUs, fans, the e-mail
outbox), since PostgreSQL has no insertion order of its own.

No unique index on claims' (fan_id, idempotency_key): the engine keeps every key in memory
(SQLite's 0005 measured what that index cost each claim).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INT = sa.BigInteger


def text(name: str, *args: Any, **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, sa.Text(collation="C"), *args, **kwargs)


def required(*names: str) -> list[sa.Column[str]]:
    return [text(name, nullable=False) for name in names]


def optional(*names: str) -> list[sa.Column[str]]:
    return [text(name) for name in names]


def seq() -> sa.Column[int]:
    """Insertion order, where the SQLite adapter reads `rowid`."""
    return sa.Column("seq", INT, sa.Identity(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "products",
        text("id", primary_key=True),
        *required("name", "description", "created_at"),
        text("specs", nullable=False, server_default="[]"),
        text("images", nullable=False, server_default="[]"),
        text("rehearsal"),
    )
    op.create_table(
        "skus",
        text("product_id", sa.ForeignKey("products.id"), primary_key=True),
        text("code", primary_key=True),
        sa.Column("position", INT, nullable=False),
        text("name", nullable=False),
        sa.Column("price", INT, nullable=False),
        sa.Column("cost", INT, nullable=False),
        text("currency", nullable=False),
        sa.CheckConstraint("price >= 0 AND cost >= 0", name="money_not_negative"),
    )
    op.create_table(
        "launches",
        text("id", primary_key=True),
        text("product_id", sa.ForeignKey("products.id"), nullable=False),
        text("title", nullable=False),
        text("reservations_open_at"),
        text("sale_opens_at", nullable=False),
        text("sale_closes_at"),
        text("mode", nullable=False),
        *(
            sa.Column(name, INT, nullable=False)
            for name in (
                "reservation_required",
                "per_fan_limit",
                "payment_window_seconds",
                "published",
            )
        ),
        text("cancelled_at"),
        text("created_at", nullable=False),
        text("more_rules", nullable=False, server_default="{}"),
        *optional("paused_at", "draw_commitment", "drawn_at", "rehearsal"),
    )
    op.create_table(
        "launch_batches",
        text("launch_id", sa.ForeignKey("launches.id"), primary_key=True),
        text("sku", primary_key=True),
        sa.Column("quantity", INT, nullable=False),
        seq(),
        sa.CheckConstraint("quantity >= 0", name="batch_not_negative"),
    )
    op.create_table(
        "fans",
        text("id", primary_key=True),
        text("email", nullable=False),
        text("name", nullable=False),
        text("referral_code", nullable=False),
        text("referred_by", sa.ForeignKey("fans.id")),
        text("created_at", nullable=False),
        *optional("address", "phone", "shipping", "locale", "time_zone", "erased_at"),
        text("rehearsal"),
        seq(),
        sa.UniqueConstraint("email", name="fans_email_key"),
        sa.UniqueConstraint("referral_code", name="fans_referral_code_key"),
    )
    op.create_index(
        "fans_of_rehearsals",
        "fans",
        ["rehearsal"],
        postgresql_where=sa.text("rehearsal IS NOT NULL"),
    )
    op.create_table(
        "reservations",
        text("id", primary_key=True),
        text("launch_id", sa.ForeignKey("launches.id"), nullable=False),
        text("fan_id", sa.ForeignKey("fans.id"), nullable=False),
        text("created_at", nullable=False),
        text("sku"),
        sa.UniqueConstraint("launch_id", "fan_id", name="one_reservation_per_fan"),
    )
    op.create_table(
        "claims",
        text("id", primary_key=True),
        *required("launch_id", "fan_id", "sku"),
        sa.Column("quantity", INT, nullable=False),
        sa.Column("unit_price", INT, nullable=False),
        *required("currency", "created_at", "expires_at", "idempotency_key"),
        text("priority_code"),
        text("state", nullable=False),
        text("closed_at"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("state IN ('held', 'paid', 'expired', 'cancelled')", name="claim_state"),
    )
    op.create_table(
        "orders",
        text("id", primary_key=True),
        text("claim_id", sa.ForeignKey("claims.id"), nullable=False, unique=True),
        *required("launch_id", "fan_id", "sku"),
        sa.Column("quantity", INT, nullable=False),
        sa.Column("total", INT, nullable=False),
        *required(
            "currency",
            "paid_at",
            "payment_method",
            "payment_reference",
            "idempotency_key",
            "status",
        ),
        *optional(
            "ship_date",
            "shipped_at",
            "carrier",
            "tracking_number",
            "refunded_at",
            "notified_ship_date",
            "shipping",
        ),
    )
    op.create_index("orders_by_fan", "orders", ["fan_id"])
    op.create_index("orders_by_paid_at", "orders", ["paid_at", "id"])
    op.create_table(
        "priority_codes",
        text("code", primary_key=True),
        text("launch_id", sa.ForeignKey("launches.id"), nullable=False),
        *required("sku", "created_at"),
        text("redeemed_by_claim", unique=True),
        text("expires_at"),
        sa.Column("any_sku", INT, nullable=False, server_default="0"),
        text("granted_to"),
    )
    op.create_table(
        "secrets",
        text("name", primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "order_events",
        sa.Column("id", INT, sa.Identity(), primary_key=True),
        text("order_id", sa.ForeignKey("orders.id"), nullable=False),
        *required("at", "kind", "detail"),
    )
    op.create_index("order_events_by_order", "order_events", ["order_id", "id"])
    op.create_table(
        "payments",
        text("id", primary_key=True),
        text("claim_id", sa.ForeignKey("claims.id"), nullable=False),
        *required("fan_id", "provider", "method"),
        sa.Column("amount", INT, nullable=False),
        *required("currency", "idempotency_key", "fingerprint", "state"),
        *optional("reference", "reason"),
        *required("created_at", "updated_at"),
        sa.UniqueConstraint("fan_id", "idempotency_key", name="one_payment_per_key"),
        sa.CheckConstraint("amount > 0", name="payment_amount_positive"),
    )
    op.create_table(
        "webhook_events",
        text("provider", primary_key=True),
        text("event_id", primary_key=True),
        text("received_at", nullable=False),
    )
    op.create_table(
        "production_plans",
        text("product_id", sa.ForeignKey("products.id"), primary_key=True),
        text("sku", primary_key=True),
        *required("plan", "updated_at"),
    )
    op.create_table(
        "notifications",
        text("id", primary_key=True),
        *required("fan_id", "kind", "message", "data", "created_at"),
        text("email_state", nullable=False, server_default="none"),
        sa.Column("email_attempts", INT, nullable=False, server_default="0"),
        *optional("email_next_at", "email_sent_at", "email_error"),
        seq(),
    )
    op.create_index("notifications_by_fan", "notifications", ["fan_id", "created_at"])
    op.create_index(
        "notifications_to_email",
        "notifications",
        ["email_next_at", "seq"],
        postgresql_where=sa.text("email_state = 'pending'"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", INT, sa.Identity(), primary_key=True),
        *required("at", "actor", "action", "subject", "detail"),
    )
    op.create_table(
        "media",
        text("id", primary_key=True),
        text("content_type", nullable=False),
        sa.Column("width", INT, nullable=False),
        sa.Column("height", INT, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        text("created_at", nullable=False),
    )
    op.create_table("shop", text("key", primary_key=True), text("value", nullable=False))
    op.create_table("used_links", text("key", primary_key=True), text("expires_at", nullable=False))
    op.create_table(
        "reminders",
        text("key", primary_key=True),
        *required("progress", "updated_at"),
    )
    op.create_table(
        "admin_accounts",
        text("id", primary_key=True),
        text("email", nullable=False, unique=True),
        *required("name", "role", "password_hash", "created_at"),
        text("invited_by"),
    )
    op.create_table(
        "admin_invites",
        text("id", primary_key=True),
        *required("email", "role", "invited_by", "created_at", "expires_at"),
        text("used_at"),
    )
    op.create_table(
        "sessions",
        text("digest", primary_key=True),
        *required("kind", "subject", "created_at", "expires_at"),
    )
    op.create_table(
        "fan_token_generations",
        text("fan_id", primary_key=True),
        sa.Column("generation", INT, nullable=False),
        text("changed_at", nullable=False),
    )


TABLES = (
    "fan_token_generations",
    "sessions",
    "admin_invites",
    "admin_accounts",
    "reminders",
    "used_links",
    "shop",
    "media",
    "audit_log",
    "notifications",
    "production_plans",
    "webhook_events",
    "payments",
    "order_events",
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
)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
