"""Mollie's payments as soldout reads them: amounts in minor units, webhook events and
ledger lines (what `mollie_provider.py` needs besides its calls).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from mollie.api.objects.payment import Payment

from soldout.domain.errors import PaymentFailed, WebhookRejected
from soldout.domain.money import Money, decimals
from soldout.payments.port import (
    Authorization,
    AuthorizationStatus,
    EventType,
    Transaction,
    WebhookEvent,
)

__all__ = [
    "MARK",
    "authorization_of",
    "event_of",
    "ledger_line",
    "mark_of",
    "mollie_amount",
    "moment",
    "money_of",
    "refunded_amount",
    "webhook_payment_id",
]

log = logging.getLogger(__name__)

Json = Mapping[str, Any]

PAYMENT_ID = re.compile(r"tr_[A-Za-z0-9]+")
MARK = "soldout_payment"  # the metadata key holding soldout's own payment id
DECLINED = {
    "failed": "the payment failed at Mollie",
    "canceled": "the fan canceled the payment",
    "expired": "the payment expired before the fan paid",
}
LEDGER = {
    "open": "pending",
    "pending": "pending",
    "authorized": "authorized",
    "paid": "captured",
    "failed": "declined",
    "expired": "declined",
    "canceled": "voided",
}
CHANGED_AT = {
    "paid": "paidAt",
    "authorized": "authorizedAt",
    "failed": "failedAt",
    "canceled": "canceledAt",
    "expired": "expiredAt",
}


def mollie_amount(money: Money) -> dict[str, str]:
    """Mollie's amount: the value a string with exactly the currency's decimals."""
    return {"currency": money.currency, "value": money.decimal_text()}


def minor_units(amount: Json) -> int:
    """A Mollie amount in minor units, exactly; refuses a value the currency cannot have."""
    try:
        units = Decimal(amount["value"]).scaleb(decimals(amount["currency"]))
    except (InvalidOperation, KeyError, TypeError) as bad:
        raise PaymentFailed(f"Mollie sent an amount soldout cannot read: {amount}") from bad
    if units != units.to_integral_value():
        raise PaymentFailed(f"Mollie sent an amount with too many decimals: {amount}")
    return int(units)


def money_of(payment: Json) -> Money:
    return Money(minor_units(payment["amount"]), payment["amount"]["currency"])


def refunded_amount(payment: Json) -> int:
    refunded = payment.get("amountRefunded")
    return 0 if refunded is None else minor_units(refunded)


def mark_of(payment: Json) -> str | None:
    """soldout's own payment id, or None for a payment soldout did not ask for."""
    metadata = payment.get("metadata")
    mark = metadata.get(MARK) if isinstance(metadata, dict) else None
    return mark if isinstance(mark, str) else None


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def authorization_of(payment: Payment) -> Authorization:
    status = payment["status"]
    if status in DECLINED:
        return Authorization(payment["id"], AuthorizationStatus.DECLINED, DECLINED[status])
    if status in ("paid", "authorized"):
        return Authorization(payment["id"], AuthorizationStatus.AUTHORIZED)
    checkout = payment.get("_links", {}).get("checkout", {}).get("href")
    return Authorization(payment["id"], AuthorizationStatus.PENDING, redirect_url=checkout)


def webhook_payment_id(body: bytes) -> str:
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True)
    except ValueError:  # not ASCII, or not a form
        raise WebhookRejected("a Mollie webhook is a form: id=tr_...", field="id") from None
    ids = form.get("id", [])
    if len(ids) != 1 or not PAYMENT_ID.fullmatch(ids[0]):
        raise WebhookRejected("a Mollie webhook names one payment, tr_...", field="id")
    return ids[0]


def event_of(payment: Json, now: datetime) -> WebhookEvent | None:
    mark = mark_of(payment)
    if mark is None:
        return None  # another shop's payment on the same Mollie account
    status = payment["status"]
    money = money_of(payment)
    if status == "paid" and refunded_amount(payment) >= money.amount:
        kind, name = EventType.REFUNDED, "refunded"
    elif status in ("paid", "authorized"):
        kind, name = EventType.AUTHORIZED, status
    elif status in DECLINED:
        log.info("Mollie payment %s: %s", payment["id"], DECLINED[status])
        kind = EventType.CANCELLED if status == "canceled" else EventType.DECLINED
        name = status
    else:
        return None  # open or pending: nothing has happened yet
    changed = payment.get(CHANGED_AT.get(name, ""))
    return WebhookEvent(
        id=f"{payment['id']}:{name}",  # a replay collapses, a real change comes through
        type=kind,
        reference=payment["id"],
        amount=money.amount,
        currency=money.currency,
        created=moment(changed) if changed else now,
        merchant_reference=mark,
    )


def ledger_line(payment: Json) -> Transaction:
    money, refunded = money_of(payment), refunded_amount(payment)
    status = LEDGER.get(payment["status"], "pending")
    if status == "captured" and refunded >= money.amount:
        status = "refunded"
    return Transaction(
        reference=payment["id"],
        method=payment.get("method") or "",
        amount=money.amount,
        currency=money.currency,
        status=status,
        captured=money.amount if payment["status"] == "paid" else 0,
        refunded=refunded,
        merchant_reference=mark_of(payment) or "",
        failure=DECLINED["failed"] if payment["status"] == "failed" else None,
    )
