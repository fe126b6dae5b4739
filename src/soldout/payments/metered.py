"""A payment provider whose calls are counted by step and outcome, for `/metrics`.

It wraps any provider behind the port and changes nothing of what it answers or raises:
`authorize` counts the authorization's status (`authorized`, `pending`, `declined`) or
`error`; `capture`, `refund`, `refund_part` and `abandon` count `ok` or `error`; a
webhook counts its event's type, `ignored` (genuine, nothing to do) or `rejected` (a forged
or unreadable one).

Usage: `provider = MeteredProvider(StripePayments(...), metrics.payment)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from soldout.domain.money import Money
from soldout.payments.port import (
    Authorization,
    Deliver,
    PaymentProvider,
    PaymentRequest,
    Transaction,
    WebhookEvent,
)

__all__ = ["MeteredProvider"]
T = TypeVar("T")

Count = Callable[[str, str, str], None]  # (provider, step, outcome)


class MeteredProvider:
    def __init__(self, provider: PaymentProvider, count: Count) -> None:
        self.inner = provider
        self._count = count
        self.name = provider.name
        self.methods = provider.methods
        self.hosted = provider.hosted

    async def authorize(self, request: PaymentRequest) -> Authorization:
        try:
            authorization = await self.inner.authorize(request)
        except Exception:
            self._count(self.name, "authorize", "error")
            raise
        self._count(self.name, "authorize", authorization.status.value)
        return authorization

    async def capture(self, reference: str, amount: Money) -> None:
        await self._counted("capture", self.inner.capture(reference, amount))

    async def refund(self, reference: str, amount: Money, reason: str = "") -> bool:
        return await self._counted("refund", self.inner.refund(reference, amount, reason))

    async def refund_part(
        self, reference: str, amount: Money, refund_id: str, reason: str = ""
    ) -> None:
        await self._counted(
            "refund_part", self.inner.refund_part(reference, amount, refund_id, reason)
        )

    async def abandon(self, reference: str) -> None:
        await self._counted("abandon", self.inner.abandon(reference))

    async def _counted(self, step: str, call: Awaitable[T]) -> T:
        try:
            result = await call
        except Exception:
            self._count(self.name, step, "error")
            raise
        self._count(self.name, step, "ok")
        return result

    async def verify_webhook(
        self, body: bytes, headers: Mapping[str, str], now: datetime
    ) -> WebhookEvent | None:
        try:
            event = await self.inner.verify_webhook(body, headers, now)
        except Exception:
            self._count(self.name, "webhook", "rejected")
            raise
        self._count(self.name, "webhook", event.type.value if event is not None else "ignored")
        return event

    def on_webhook(self, deliver: Deliver) -> None:
        self.inner.on_webhook(deliver)

    async def transactions(self, since: datetime | None = None) -> Sequence[Transaction]:
        return await self.inner.transactions(since)

    async def transaction(
        self, merchant_reference: str, reference: str | None = None
    ) -> Transaction | None:
        return await self.inner.transaction(merchant_reference, reference)

    async def close(self) -> None:
        await self.inner.close()
