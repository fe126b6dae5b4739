"""Signed webhooks, Stripe style.

A webhook is a JSON body with one header:

    Soldout-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, b"<t>." + body)>

The timestamp is signed with the body, so an old delivery cannot be re-sent with a fresh
time; `verify` refuses one outside the tolerance. A replay within the tolerance verifies
again: soldout keeps the ids of events it has handled in its store and ignores repeats.

Usage: `event = verify(secret, body, request_headers, clock.now())`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson

from soldout.clock import utc
from soldout.domain.errors import WebhookRejected
from soldout.payments.port import EventType, WebhookEvent

__all__ = ["SIGNATURE_HEADER", "TOLERANCE", "event_body", "sign", "verify"]

SIGNATURE_HEADER = "Soldout-Signature"
TOLERANCE = timedelta(minutes=5)

_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DIGITS = re.compile(r"^[0-9]{1,12}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_EVENT_TYPES = frozenset(EventType)


def event_body(event: WebhookEvent) -> bytes:
    return orjson.dumps(
        {
            "id": event.id,
            "type": str(event.type),
            "reference": event.reference,
            "merchant_reference": event.merchant_reference,
            "amount": event.amount,
            "currency": event.currency,
            "created": utc(event.created).isoformat(),
        }
    )


def _signature(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, at: datetime) -> dict[str, str]:
    """The headers that go with `body`, signed at the moment `at`."""
    timestamp = int(utc(at).timestamp())
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: f"t={timestamp},v1={_signature(secret, timestamp, body)}",
    }


def verify(
    secret: bytes,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> WebhookEvent:
    """The event in a genuine, recent webhook; raises `WebhookRejected` otherwise."""
    timestamp, candidates = _parse_header(_header(headers, SIGNATURE_HEADER))
    expected = _signature(secret, timestamp, body).encode()
    # Every candidate is compared, so the time taken does not tell which one failed.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in candidates]
    if not any(matches):
        raise WebhookRejected("the webhook signature does not match", field=SIGNATURE_HEADER)
    if abs(utc(now).timestamp() - timestamp) > tolerance.total_seconds():
        raise WebhookRejected("the webhook timestamp is too old or in the future")
    return _parse_event(body)


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    raise WebhookRejected(f"the {name} header is missing", field=name)


def _parse_header(value: str) -> tuple[int, list[str]]:
    """`t=...,v1=...[,v1=...]`: one timestamp, one or more signatures (key rotation)."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in value.split(","):
        key, sep, part = item.strip().partition("=")
        if not sep:
            raise _garbled()
        if key == "t":
            timestamps.append(part)
        elif key == "v1":
            signatures.append(part)
    if len(timestamps) != 1 or not _DIGITS.match(timestamps[0]) or not signatures:
        raise _garbled()
    if not all(_HEX_SHA256.match(s) for s in signatures):
        raise _garbled()
    return int(timestamps[0]), signatures


def _garbled() -> WebhookRejected:
    return WebhookRejected(f"the {SIGNATURE_HEADER} header is garbled", field=SIGNATURE_HEADER)


def _parse_event(body: bytes) -> WebhookEvent:
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookRejected("the webhook body is not JSON", field="body") from None
    if not isinstance(data, dict):
        raise WebhookRejected("the webhook body is not a JSON object", field="body")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _EVENT_TYPES:
        raise WebhookRejected("unknown webhook event type", field="type")
    amount = data.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise WebhookRejected("the webhook amount is not minor units", field="amount")
    currency = data.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise WebhookRejected("the webhook currency is not an ISO 4217 code", field="currency")
    return WebhookEvent(
        id=_text(data, "id"),
        type=EventType(kind),
        reference=_text(data, "reference"),
        merchant_reference=_text(data, "merchant_reference"),
        amount=amount,
        currency=currency,
        created=_moment(data.get("created")),
    )


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookRejected(f"the webhook {key} is missing", field=key)
    return value


def _moment(value: object) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                return utc(moment)
    raise WebhookRejected("the webhook created time is not ISO 8601 with a zone", field="created")
