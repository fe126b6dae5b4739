"""What a report is drawn from, as plain data: the server's record of a launch (read over
its admin API) and the rehearsal's client log. No I/O here and no HTTP shapes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "HARNESS_ACTORS",
    "ClaimRecord",
    "ClientRequest",
    "LaunchRecord",
    "MarginLine",
    "OrderRecord",
    "Referrer",
    "ServerRecord",
    "SkuCounts",
    "ViralFigure",
]

HARNESS_ACTORS = frozenset({"setup", "check"})


@dataclass(frozen=True, slots=True)
class SkuCounts:
    """One SKU's counters now (`GET /launches/{id}/stats`)."""

    code: str
    batch: int
    available: int
    set_aside: int
    held: int
    paid: int


@dataclass(frozen=True, slots=True)
class LaunchRecord:
    id: str
    title: str
    product_name: str
    status: str
    mode: str
    sale_opens_at: datetime
    sale_closes_at: datetime | None
    has_waiting_room: bool
    reservations: int
    skus: tuple[SkuCounts, ...]
    claims_by_state: dict[str, int] = field(default_factory=dict)
    # Fans the waiting room let through, from the server's memory: None without a room
    # (or when the server restarted and the room is gone).
    admitted: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimRecord:
    id: str
    fan_id: str
    sku: str
    quantity: int
    state: str  # held | paid | expired | cancelled
    created_at: datetime
    closed_at: datetime | None
    order_id: str | None
    priority_code: str | None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: str
    claim_id: str
    sku: str
    quantity: int
    total: int
    currency: str
    status: str
    paid_at: datetime
    refunded_at: datetime | None


@dataclass(frozen=True, slots=True)
class MarginLine:
    """Revenue, cost and margin in minor units: one SKU, or the total of one currency."""

    label: str
    currency: str
    units: int
    revenue: int
    cost: int
    margin: int | None  # None: a cost was not given, so no margin is known
    margin_percent: float | None
    refunded_units: int = 0


@dataclass(frozen=True, slots=True)
class Referrer:
    fan_id: str
    direct_referrals: int
    referred_paid_orders: int
    points: int


@dataclass(frozen=True, slots=True)
class ViralFigure:
    paid_orders: int
    via_referral: int
    figure: float | None


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """Everything the server says about one launch."""

    launch: LaunchRecord
    claims: tuple[ClaimRecord, ...]
    orders: tuple[OrderRecord, ...]
    margin_skus: tuple[MarginLine, ...]
    margin_totals: tuple[MarginLine, ...]
    top_referrers: tuple[Referrer, ...]
    viral: ViralFigure


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """One line of a rehearsal's client log. Times in seconds, as the log gives them
    (`client_log.since_opening` counts them from the opening)."""

    t_start: float
    t_end: float | None
    kind: str
    status: int | None
    code: str | None
    actor: str
    fan_id: str | None
    latency_ms: float | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def by_harness(self) -> bool:
        """Made by the rehearsal itself (setting up, checking), not by a fan or a bot."""
        return self.actor in HARNESS_ACTORS
