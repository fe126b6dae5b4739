"""The SQLite adapter's statements on the rows (with `?` placeholders; the PostgreSQL
adapter translates them with `pg`). The rows themselves are built and read by the shared
`soldout.store.rows` and `soldout.store.rows_after_sale`, re-exported here."""

from __future__ import annotations

from soldout.store.rows import (
    CLAIM_COLUMNS,
    LAUNCH_COLUMNS,
    claim_from_row,
    claim_row,
    code_from_row,
    launch_from_row,
    more_rules_json,
    reservation_from_row,
    shipping_json,
    ts,
)
from soldout.store.rows_access import fan_from_row
from soldout.store.rows_after_sale import (
    ORDER_COLUMNS,
    PAYMENT_COLUMNS,
    event_from_row,
    notification_from_row,
    order_changes,
    order_from_row,
    order_row,
    payment_changes,
    payment_from_row,
    payment_row,
    plan_from_json,
    plan_json,
)

__all__ = [
    "CLAIM_COLUMNS",
    "INSERT_ORDER",
    "LAUNCH_COLUMNS",
    "ORDER_CHANGES",
    "ORDER_COLUMNS",
    "ORDER_DATES",
    "PAYMENT_COLUMNS",
    "UPDATE_PAYMENT",
    "claim_from_row",
    "claim_row",
    "code_from_row",
    "event_from_row",
    "fan_from_row",
    "launch_from_row",
    "more_rules_json",
    "notification_from_row",
    "order_changes",
    "order_from_row",
    "order_row",
    "payment_changes",
    "payment_from_row",
    "payment_row",
    "plan_from_json",
    "plan_json",
    "reservation_from_row",
    "shipping_json",
    "ts",
]

ORDER_DATES = "UPDATE orders SET status = ?, ship_date = ?, notified_ship_date = ? WHERE id = ?"
ORDER_CHANGES = (
    "UPDATE orders SET status = ?, ship_date = ?, shipped_at = ?, carrier = ?,"
    " tracking_number = ?, refunded_at = ?, refunds = ? WHERE id = ?"
)
INSERT_ORDER = (
    f"INSERT INTO orders ({ORDER_COLUMNS})"
    f" VALUES ({', '.join('?' * len(ORDER_COLUMNS.split(', ')))})"
)
# Only what changes after the insert: an UPDATE that names an indexed column rewrites that
# index's entry, here the unique (fan_id, idempotency_key) one: one more page of the index
# written at every payment's capture, for a value that never changes (`payment_changes`).
UPDATE_PAYMENT = (
    "UPDATE payments SET state = ?, reference = ?, reason = ?, updated_at = ? WHERE id = ?"
)
