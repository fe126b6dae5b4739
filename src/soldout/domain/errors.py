"""Typed domain errors. Each carries a machine-readable `code` and the `field` at fault.

The API maps them to HTTP statuses in exactly one place (`soldout.api.errors`).
"""

from __future__ import annotations

__all__ = [
    "AlreadyPaid",
    "ClaimExpired",
    "Closed",
    "Conflict",
    "DomainError",
    "Forbidden",
    "IdempotencyKeyReused",
    "InsufficientStock",
    "InvalidInput",
    "LimitReached",
    "MalformedBody",
    "NotFound",
    "NotOpen",
    "PaymentDeclined",
    "PaymentFailed",
    "PaymentPending",
    "RateLimited",
    "ReservationRequired",
    "SoldOut",
    "StorageUnavailable",
    "Unauthorized",
    "WebhookRejected",
]


class DomainError(Exception):
    code = "error"
    default_message = "the request cannot be carried out"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)

    def with_code(self, code: str) -> DomainError:
        """Narrow the machine-readable code, keeping the class (and so the HTTP status)."""
        self.code = code
        return self


class InvalidInput(DomainError):
    code = "invalid"
    default_message = "the request is not valid"

    def __init__(self, message: str, *, field: str | None, code: str | None = None) -> None:
        super().__init__(message, field=field)
        if code:
            self.code = code


class MalformedBody(DomainError):
    code = "malformed_json"
    default_message = "the body is not valid JSON"


class Unauthorized(DomainError):
    code = "unauthorized"
    default_message = "a valid bearer token is required"


class Forbidden(DomainError):
    code = "forbidden"
    default_message = "this token may not do that"


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, what: str, *, field: str | None = None) -> None:
        super().__init__(f"{what} not found", field=field)


class Conflict(DomainError):
    code = "conflict"


class NotOpen(Conflict):
    code = "not_open"
    default_message = "the sale is not open yet"


class Closed(Conflict):
    code = "closed"
    default_message = "the sale is closed"


class SoldOut(Conflict):
    code = "sold_out"
    default_message = "sold out"


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    default_message = "fewer units are left than asked for"


class LimitReached(Conflict):
    code = "limit_reached"
    default_message = "the per-fan limit for this launch is reached"


class AlreadyPaid(Conflict):
    code = "already_paid"
    default_message = "this claim is already paid"


class ClaimExpired(Conflict):
    code = "claim_expired"
    default_message = "the payment window of this claim has passed; the unit went back on sale"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_message = "this Idempotency-Key was already used for a different request"


class ReservationRequired(DomainError):
    code = "reservation_required"
    default_message = "this sale is for fans who reserved before it opened"


class PaymentDeclined(DomainError):
    code = "payment_declined"
    default_message = "the payment was declined; the claim is still held until it expires"


class PaymentFailed(DomainError):
    code = "payment_failed"
    default_message = (
        "the payment provider could not complete the payment; the claim is still held"
        " until it expires, retry"
    )


class PaymentPending(DomainError):
    code = "payment_pending"
    default_message = "the payment provider has not confirmed this payment yet; ask again shortly"


class WebhookRejected(DomainError):
    code = "webhook_rejected"
    default_message = "the webhook is not validly signed, not recent, or not understood"


class StorageUnavailable(DomainError):
    code = "storage_unavailable"
    default_message = "the server cannot record purchases right now; nothing was sold, retry"


class RateLimited(DomainError):
    code = "rate_limited"
    default_message = "too many requests; slow down and retry after the time given"

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after + 0.999))  # whole seconds, rounded up
