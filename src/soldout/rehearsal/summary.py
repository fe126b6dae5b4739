"""The figures of a run, from the request log, the participants and the server's record;
and their table."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from rich.table import Table

from soldout.rehearsal.checks import Check, ServerState
from soldout.rehearsal.log import Record
from soldout.rehearsal.plan import Participant

__all__ = ["Figures", "figures_of", "percentile", "render", "sell_out_seconds"]

SETUP_KINDS = frozenset({"setup", "register", "reserve", "check"})


@dataclass(frozen=True, slots=True)
class Figures:
    scenario: str
    mode: str
    units: int
    units_taken: int  # held or paid at the end
    units_paid: int
    fans: int
    fans_took_part: int
    fans_won: int
    bots: int
    bots_took_part: int
    bots_won: int
    sell_out_seconds: float | None  # from the opening until no unit was left, if ever
    setup_seconds: float
    sale_seconds: float
    requests: int  # during the sale
    requests_per_second: float
    peak_requests_per_second: int  # the busiest one-second window
    p50_ms: float | None  # None: no such request
    p99_ms: float | None
    claim_p50_ms: float | None
    claim_p99_ms: float | None
    errors: int  # no answer, or 5xx
    rate_limited: int
    stopped_by: str | None

    @property
    def fan_win_rate(self) -> float:
        return self.fans_won / self.fans_took_part if self.fans_took_part else 0.0

    @property
    def bot_win_rate(self) -> float:
        return self.bots_won / self.bots_took_part if self.bots_took_part else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100) of unsorted values; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def sell_out_seconds(state: ServerState, sale_opens_at: str) -> float | None:
    """When every unit open to everyone was first held or paid at once, in seconds after
    the opening; walks the claims' creations and releases (expiry, cancel) in time order."""
    opens = datetime.fromisoformat(sale_opens_at)
    total = sum(n.batch - n.set_aside for n in state.skus.values())
    events: list[tuple[datetime, int, int]] = []
    for claim in state.claims:
        events.append((datetime.fromisoformat(claim.created_at), 0, claim.quantity))
        if claim.state in ("expired", "cancelled") and claim.closed_at:
            events.append((datetime.fromisoformat(claim.closed_at), 1, -claim.quantity))
    level = 0
    for moment, _, change in sorted(events):
        level += change
        if total > 0 and level >= total:
            return (moment - opens).total_seconds()
    return None


def figures_of(
    scenario: str,
    mode: str,
    people: Sequence[Participant],
    records: Sequence[Record],
    state: ServerState,
    sale_opens_at: str,
    setup_seconds: float,
    stopped_by: str | None,
) -> Figures:
    sale = [r for r in records if r.kind not in SETUP_KINDS]
    span = (max(r.ended for r in sale) - min(r.started for r in sale)) if sale else 0.0
    per_second = Counter(int(r.started // 1) for r in sale)
    latencies = [r.latency_ms for r in sale if r.status]
    claims = [r.latency_ms for r in sale if r.kind == "claim" and r.status]
    fans = [p for p in people if p.actor == "fan"]
    bots = [p for p in people if p.actor == "bot"]
    return Figures(
        scenario=scenario,
        mode=mode,
        units=sum(n.batch for n in state.skus.values()),
        units_taken=sum(n.held + n.paid for n in state.skus.values()),
        units_paid=sum(n.paid for n in state.skus.values()),
        fans=len(fans),
        fans_took_part=sum(p.took_part for p in fans),
        fans_won=sum(bool(p.claims) for p in fans),
        bots=len(bots),
        bots_took_part=sum(p.took_part for p in bots),
        bots_won=sum(bool(p.claims) for p in bots),
        sell_out_seconds=sell_out_seconds(state, sale_opens_at),
        setup_seconds=setup_seconds,
        sale_seconds=span,
        requests=len(sale),
        requests_per_second=len(sale) / span if span else 0.0,
        peak_requests_per_second=max(per_second.values(), default=0),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        claim_p50_ms=percentile(claims, 50),
        claim_p99_ms=percentile(claims, 99),
        errors=sum(r.is_error for r in sale),
        rate_limited=sum(r.status == 429 for r in sale),
        stopped_by=stopped_by,
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def render(figures: Figures, checks: Sequence[Check], console: Console) -> None:
    f = figures
    table = Table(title=f"rehearsal: {f.scenario} ({f.mode})", show_header=False)
    table.add_column("figure", style="bold")
    table.add_column("value")
    sell_out = "not sold out"
    if f.sell_out_seconds is not None:
        sell_out = f"{f.sell_out_seconds:.2f} s after opening"
    rows = [
        ("units", f"{f.units:,} ({f.units_taken:,} taken, {f.units_paid:,} paid)"),
        ("fans", f"{f.fans:,} ({f.fans_took_part:,} took part)"),
        ("bots", f"{f.bots:,} ({f.bots_took_part:,} took part)"),
        ("sell-out", sell_out),
        ("setup", f"{f.setup_seconds:.1f} s (register, reserve)"),
        ("sale", f"{f.sale_seconds:.1f} s, {f.requests:,} requests"),
        ("requests/s", f"{f.requests_per_second:,.0f} mean, {f.peak_requests_per_second:,} peak"),
        ("latency", f"p50 {_ms(f.p50_ms)}, p99 {_ms(f.p99_ms)}"),
        ("claim latency", f"p50 {_ms(f.claim_p50_ms)}, p99 {_ms(f.claim_p99_ms)}"),
        (
            "win rate",
            f"fans {f.fan_win_rate:.1%} ({f.fans_won:,}), bots {f.bot_win_rate:.1%}"
            f" ({f.bots_won:,})",
        ),
        ("errors", f"{f.errors:,} (no answer or 5xx); {f.rate_limited:,} rate-limited (429)"),
    ]
    if f.stopped_by:
        rows.append(("stopped by", f"{f.stopped_by} (scenario's cap)"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    checks_table = Table(title="checks against the server")
    checks_table.add_column("check")
    checks_table.add_column("result")
    checks_table.add_column("detail", overflow="fold")
    for check in checks:
        result = "[green]ok[/green]" if check.ok else "[red]FAILED[/red]"
        checks_table.add_row(check.name, result, check.detail)
    console.print(checks_table)
