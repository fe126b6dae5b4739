"""Everything a report shows, computed from the server's record and the client log (if
any) by the pure functions of this package. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from soldout.reports.client_log import ClientLog, SkippedLine, since_opening
from soldout.reports.fairness import (
    ArrivalRate,
    WinRate,
    fan_outcomes,
    win_rate_by_actor,
    win_rate_by_arrival,
)
from soldout.reports.funnel import FunnelStep, funnel
from soldout.reports.records import LaunchRecord, MarginLine, Referrer, ServerRecord, ViralFigure
from soldout.reports.timeline import (
    UnitsPoint,
    open_capacity,
    open_claims,
    sell_out_moment,
    units_over_time,
)
from soldout.reports.traffic import (
    KindLatency,
    TrafficBin,
    bin_width,
    latency_by_kind,
    traffic_over_time,
)

__all__ = ["Analysis", "ClientSide", "SkuSellOut", "analyse"]

ARRIVAL_BUCKETS = 60


@dataclass(frozen=True, slots=True)
class SkuSellOut:
    sku: str
    open_units: int
    sold_out_at: float | None


@dataclass(frozen=True, slots=True)
class ClientSide:
    """What only the client log can tell."""

    requests: int
    skipped: tuple[SkippedLine, ...]
    traffic: list[TrafficBin]
    traffic_width: int
    latency: list[KindLatency]
    by_actor: list[WinRate]
    by_arrival: list[ArrivalRate]
    arrival_width: int


@dataclass(frozen=True, slots=True)
class Analysis:
    launch: LaunchRecord
    generated_at: datetime
    units: list[UnitsPoint]
    open_units: int
    sold_out_at: float | None  # seconds since opening
    sku_sell_out: list[SkuSellOut]
    funnel: list[FunnelStep]
    claims: int
    orders: int
    orders_refunded: int
    units_paid: int
    units_held: int
    margin_skus: tuple[MarginLine, ...]
    margin_totals: tuple[MarginLine, ...]
    top_referrers: tuple[Referrer, ...]
    viral: ViralFigure
    client: ClientSide | None


def analyse(record: ServerRecord, log: ClientLog | None, generated_at: datetime) -> Analysis:
    launch, claims = record.launch, record.claims
    orders = {o.id: o for o in record.orders}
    refunded = {o.id for o in record.orders if o.refunded_at is not None}
    opens_at = launch.sale_opens_at
    open_ones = open_claims(claims)
    capacity = open_capacity(launch.skus, claims)
    per_sku = []
    for sku in launch.skus:
        mine = [c for c in claims if c.sku == sku.code]
        units = open_capacity([sku], mine)
        moment = sell_out_moment(units, units_over_time(open_claims(mine), orders, opens_at))
        per_sku.append(SkuSellOut(sku.code, units, moment))
    return Analysis(
        launch=launch,
        generated_at=generated_at,
        units=units_over_time(claims, orders, opens_at),
        open_units=capacity,
        sold_out_at=sell_out_moment(capacity, units_over_time(open_ones, orders, opens_at)),
        sku_sell_out=per_sku,
        funnel=funnel(launch, claims, log.requests if log else None, refunded),
        claims=len(claims),
        orders=len(record.orders),
        orders_refunded=len(refunded),
        # (the revenue table's units: a refunded order sold nothing, shipped or not)
        units_paid=sum(o.quantity for o in record.orders if o.refunded_at is None),
        units_held=sum(s.held for s in launch.skus),
        margin_skus=record.margin_skus,
        margin_totals=record.margin_totals,
        top_referrers=record.top_referrers,
        viral=record.viral,
        client=_client_side(record, log) if log is not None else None,
    )


def _client_side(record: ServerRecord, log: ClientLog) -> ClientSide:
    requests = since_opening(log.requests, record.launch.sale_opens_at.timestamp())
    starts = [r.t_start for r in requests]
    width = bin_width(max(starts) - min(starts)) if starts else 1
    outcomes = fan_outcomes(requests, {c.fan_id for c in record.claims})
    arrivals = [o.arrived for o in outcomes]
    arrival_width = bin_width(max(arrivals) - min(arrivals), ARRIVAL_BUCKETS) if arrivals else 1
    return ClientSide(
        requests=len(requests),
        skipped=log.skipped,
        traffic=traffic_over_time(requests, 0.0, width),
        traffic_width=width,
        latency=latency_by_kind(requests),
        by_actor=win_rate_by_actor(outcomes),
        by_arrival=win_rate_by_arrival(outcomes, arrival_width),
        arrival_width=arrival_width,
    )
