"""The maker's e-mails: what the team is told when something needs them (a launch sold
out, money given back that a person may want to look at, a refund a fan asked for).

Each is a notification per member who wants them (`recipients`, set by the platform
from the team: owners and staff who did not turn them off), its `fan_id` the member's
account id, written in the same transaction as what caused it and mailed by the fans'
outbox (docs/email.md, "The maker's e-mails"). Never shown in a fan's list: no fan has
an account's id.

    news = MakerNews()
    news.recipients = team.news_recipients
    tx.notifications.add_many(news.notes(TEAM_REFUND_ASKED, "...", {"order_id": ...}, now))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from soldout.domain.notifications import Notification
from soldout.ids import new_id

__all__ = [
    "FAN_CANCELLED",
    "TEAM_KINDS",
    "TEAM_PAYMENT_RETURNED",
    "TEAM_REFUND_ASKED",
    "TEAM_SOLD_OUT",
    "MakerNews",
]

TEAM_SOLD_OUT = "team_sold_out"
TEAM_PAYMENT_RETURNED = "team_payment_returned"
TEAM_REFUND_ASKED = "team_refund_asked"
TEAM_KINDS = frozenset({TEAM_SOLD_OUT, TEAM_PAYMENT_RETURNED, TEAM_REFUND_ASKED})

FAN_CANCELLED = "cancelled by the fan"  # a refund's reason when the fan cancelled the order


class MakerNews:
    def __init__(self) -> None:
        # no team (a tool, a unit test): nobody to tell
        self.recipients: Callable[[], Sequence[str]] = tuple

    def notes(
        self, kind: str, message: str, data: Mapping[str, Any], now: datetime
    ) -> list[Notification]:
        """One notification of `kind` per member who wants the maker's e-mails now."""
        return [
            Notification(new_id("ntf"), account_id, kind, message, now, dict(data))
            for account_id in self.recipients()
        ]
