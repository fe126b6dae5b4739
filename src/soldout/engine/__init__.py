"""The claim hot path: admission, sold-out short-circuit, limits, idempotency, atomic
allocation, durable record, expiry and release."""

from soldout.engine.engine import ClaimOutcome, PaymentOutcome, SaleEngine

__all__ = ["ClaimOutcome", "PaymentOutcome", "SaleEngine"]
