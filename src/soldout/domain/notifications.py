"""Notifications: messages to a fan, written to an outbox in the same transaction as the
change they tell about, and delivered from there (shown in the API; e-mail later)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Notification"]


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    fan_id: str
    kind: str  # order_confirmed | ship_date_changed | order_shipped | refunded | ...
    message: str
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    email: bool = True  # also sent by e-mail (through the outbox), not only shown in-app
