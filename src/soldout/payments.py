"""The payment-provider port and the built-in `test` provider.

A provider charges a claim's total and can refund a charge. The `test` provider succeeds
for any token except `tok_decline`, which it declines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from soldout.domain.errors import InvalidInput, PaymentDeclined
from soldout.domain.money import Money
from soldout.ids import new_id

__all__ = ["Payment", "PaymentProvider", "TestPayments"]


@dataclass(frozen=True, slots=True)
class Payment:
    reference: str
    method: str
    amount: Money


class PaymentProvider(Protocol):
    async def charge(self, method: str, token: str, amount: Money, *, reference: str) -> Payment:
        """Take the money or raise `PaymentDeclined`."""

    async def refund(self, payment: Payment) -> None: ...


class TestPayments:
    """Always available, never touches a network. `tok_decline` is declined."""

    __test__ = False  # not a pytest test class
    methods = frozenset({"test"})

    def __init__(self) -> None:
        self.refunded: list[Payment] = []

    async def charge(self, method: str, token: str, amount: Money, *, reference: str) -> Payment:
        if method not in self.methods:
            raise InvalidInput(f"unknown payment method {method!r}; use 'test'", field="method")
        if token == "tok_decline":  # noqa: S105 - the documented test token
            raise PaymentDeclined(field="token")
        return Payment(new_id("pay"), method, amount)

    async def refund(self, payment: Payment) -> None:
        self.refunded.append(payment)
