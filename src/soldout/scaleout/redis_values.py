"""What `redis_allocator` sends its scripts and makes of their replies: the values it
hands back (`Taken`, `SkuCounts`), a claim of a micro-batch (`TakeRequest`), times and
replay fields as the scripts store them, the launch's state as `INIT`/`UPDATE` take it,
and each refusal a script answers turned into the `DomainError` the book raises.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from soldout.domain.errors import (
    Closed,
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidInput,
    LimitReached,
    NotOpen,
    RateLimited,
    ReservationRequired,
    SoldOut,
    StorageUnavailable,
)
from soldout.domain.launches import Launch

__all__ = ["FanRate", "SkuCounts", "TakeRequest", "Taken", "micros", "replay_field"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """Whole microseconds since the epoch, exactly (no float on the way)."""
    return (at - _EPOCH) // _MICROSECOND


def replay_field(fan_id: str, key: str) -> str:
    """The replay index's field for (fan, Idempotency-Key): the fan's length in bytes
    first, so that no two pairs make one field."""
    return f"{len(fan_id.encode())}:{fan_id}{key}"


@dataclass(frozen=True, slots=True)
class Taken:
    claim_id: str
    replayed: bool  # an earlier claim under the same (fan, key): nothing was taken now


@dataclass(frozen=True, slots=True)
class TakeRequest:
    fan_id: str
    sku: str
    quantity: int
    idempotency_key: str
    claim_id: str  # the id the claim gets if it is taken
    code: str | None = None
    drawn: bool = False
    address: str = ""  # the client's, counted against its rate in Redis ("" for none)


@dataclass(frozen=True, slots=True)
class FanRate:
    """A fan's (or a client address's) claims per second and burst, as the script counts
    them: the interval between two tokens and the burst's span, in whole microseconds."""

    interval: int
    span: int

    @staticmethod
    def of(per_second: float, burst: int) -> FanRate | None:
        """None for no limit (a rate of 0), as `GateSettings` says it."""
        if per_second <= 0:
            return None
        interval = max(1, round(1_000_000 / per_second))
        return FanRate(interval, max(1, burst) * interval)


@dataclass(frozen=True, slots=True)
class SkuCounts:
    """`SkuStock`'s counts: batch = available + set_aside + held + paid."""

    batch: int
    available: int
    set_aside: int
    held: int
    paid: int


def _state_args(launch: Launch, *, log: bool = False) -> list[str | int]:
    """The launch's state as `INIT`/`UPDATE` take it; `log` (`INIT`): a new generation of
    its key log (`key_log`), which the launch keeps from then on."""
    rules = launch.rules
    closes = "" if launch.sale_closes_at is None else micros(launch.sale_closes_at)
    fields: list[tuple[str, str | int]] = [
        ("published", "1" if launch.published else "0"),
        ("cancelled", "0" if launch.cancelled_at is None else "1"),
        ("opens", micros(launch.sale_opens_at)),
        ("closes", closes),
        ("paused", "0" if launch.paused_at is None else "1"),
        ("draw", "1" if launch.is_draw else "0"),
        ("reservation", "1" if rules.reservation_required else "0"),
        ("limit", rules.per_fan_limit),
    ]
    if log:
        fields.append(("log", secrets.token_hex(8)))
    return [len(fields), *(v for pair in fields for v in pair)]


def _text(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value


def _texts(reply: Any) -> list[Any]:
    return [_text(v) for v in reply]


def _answer(reply: list[Any], request: TakeRequest) -> Taken | DomainError:
    kind = reply[0]
    if kind == "ok":
        return Taken(str(reply[1]), replayed=False)
    if kind == "replay":
        return Taken(str(reply[1]), replayed=True)
    if reply[1] == "duplicate_claim":  # (answered, not raised: the batch's others stand)
        return Conflict(f"claim id {request.claim_id} is taken already").with_code(
            "duplicate_claim"
        )
    return _refusal(reply[1:], request.sku)


def _refusal(reason: list[Any], sku: str) -> DomainError:
    """The `DomainError` the book raises for the script's reason: the same class, code,
    field and message (the differential test holds them to it)."""
    why, details = reason[0], reason[1:]
    match why:
        case "rate_limited":
            return RateLimited(int(details[0]) / 1_000_000)
        case "not_open":
            return NotOpen()
        case "closed":
            return Closed()
        case "paused":
            return Conflict("the sale is paused; try again shortly").with_code("paused")
        case "sold_out":
            return SoldOut(field="sku")
        case "sold_out_code":
            return SoldOut(f"{sku} is sold out; this code can still buy {details[0]}", field="sku")
        case "unknown_sku":
            return InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
        case "over_limit":
            return LimitReached(f"at most {details[0]} per fan in this launch", field="quantity")
        case "draw_only":
            return Conflict(
                "this launch sells by draw: winners get their claim when it is drawn"
            ).with_code("draw_only")
        case "draw_code":
            return Conflict(
                f"this launch sells by draw: this priority code buys only its own unit, of SKU"
                f" {details[0]!r}",
                field="sku",
            ).with_code("draw_only")
        case "reservation_required":
            return ReservationRequired()
        case "limit_reached":
            return LimitReached(
                f"you already hold {details[0]} of the {details[1]} allowed per fan"
            )
        case "insufficient_stock":
            return InsufficientStock(f"only {details[0]} left", field="quantity")
        case "invalid_code":
            return InvalidInput(
                "no such priority code for this launch", field="priority_code", code="invalid_code"
            )
        case "code_spent":
            return Conflict("this priority code was already used", field="priority_code").with_code(
                "code_spent"
            )
        case "code_expired":
            return Conflict("this priority code has expired", field="priority_code").with_code(
                "code_expired"
            )
        case "code_sku":
            return InvalidInput(
                f"this code is for SKU {details[0]!r}", field="sku", code="code_for_other_sku"
            )
        case "code_quantity":
            return InvalidInput("a priority code buys exactly one unit", field="quantity")
        case "reused":
            return IdempotencyKeyReused(field="Idempotency-Key")
        case "not_loaded":
            return StorageUnavailable("the launch's counts are not loaded; nothing was sold, retry")
        case "broken":
            raise AssertionError(details[0])
    raise AssertionError(f"unknown answer from the take script: {reason!r}")
