"""Payments: the provider port, signed webhooks, and the built-in `test` provider.

Usage:

    provider = TestPayments(data_dir / "test-payments.db", secret=webhook_secret)
    provider.on_webhook(deliver)
    auth = await provider.authorize(
        PaymentRequest("test", total, payment_id, payment_id, token="tok_ok")
    )
"""

from __future__ import annotations

from soldout.payments.port import (
    Authorization,
    AuthorizationStatus,
    Deliver,
    EventType,
    PaymentProvider,
    PaymentRequest,
    Transaction,
    WebhookEvent,
    usable_methods,
)
from soldout.payments.test_provider import TestPayments
from soldout.payments.webhooks import SIGNATURE_HEADER, event_body, sign, verify

__all__ = [
    "SIGNATURE_HEADER",
    "Authorization",
    "AuthorizationStatus",
    "Deliver",
    "EventType",
    "PaymentProvider",
    "PaymentRequest",
    "TestPayments",
    "Transaction",
    "WebhookEvent",
    "event_body",
    "sign",
    "usable_methods",
    "verify",
]
