"""What `/metrics` serves, in Prometheus's text format, through the official client.

Each platform has its own `Metrics` and registry (tests run many platforms in one
process). Most figures are kept by the client's own Counter, Gauge and Histogram. The
claim hot path is the exception: a sold-out answer costs about 7 microseconds of Python,
and a labelled Counter's `labels(...).inc()` (1.2 us) and a Histogram's `observe` (0.7 us)
take a lock each: some 25 %. So `ClaimMeter` counts claims in plain integers on
the event loop (one thread: no lock needed) and a collector hands them to the client at
each scrape. Figures that already exist elsewhere (waiting rooms, the sweeper, the
outbox) are read when scraped, not counted twice. The names, and what each is for, are
in docs/operations.md ("Metrics"); a Grafana dashboard is docs/grafana-dashboard.json.

Usage: `metrics = Metrics()`, then `metrics.render()` for a scrape's body.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from soldout import __version__

__all__ = [
    "CONTENT_TYPE",
    "ClaimMeter",
    "HttpMeter",
    "Metrics",
    "RoomFigures",
    "SaleFigures",
    "route_template",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
disable_created_metrics()  # type: ignore[no-untyped-call]  # (`*_created`: noise here)
CLAIM_BUCKETS = 24  # upper bounds 1 us * 2**i: 1 us ... 8.4 s
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_FSYNC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5)


class ClaimMeter:
    """Claims by answer code, and how long those that reached the engine's decision took,
    counted on the hot path.

    `code` is `created` (201), `replayed` (200) or the error's code. The answers given
    from memory before the decision (sold out, not open, paused, closed: most of a
    stampede) are counted, not timed: they take microseconds, and two clock reads per
    claim cost 5 % of a sold-out answer. `seen(code, started_ns)` times from `started_ns`
    (0: not timed) into a bucket found by `int.bit_length` (bucket i holds latencies
    under 2**i microseconds) instead of a search of the bounds.
    """

    __slots__ = ("buckets", "codes", "name", "ns")

    def __init__(self, name: str = "soldout_claims") -> None:
        self.name = name  # (the workers' claims, summed on the owner: soldout_worker_claims)
        self.codes: dict[str, int] = {}
        self.buckets = [0] * 64  # (a latency of 2**63 us would be 292,000 years)
        self.ns = 0

    def seen(self, code: str, started_ns: int = 0) -> None:
        self.codes[code] = self.codes.get(code, 0) + 1
        if started_ns:
            ns = time.perf_counter_ns() - started_ns
            self.buckets[(ns // 1000).bit_length()] += 1
            self.ns += ns

    def collect(self) -> Iterable[Metric]:
        answers = CounterMetricFamily(
            self.name,
            "Claims answered, by code (created, replayed, or the error's).",
            labels=["code"],
        )
        for code, count in sorted(self.codes.items()):
            answers.add_metric([code], count)
        yield answers
        cumulative, running = [], 0
        for i in range(CLAIM_BUCKETS):
            running += self.buckets[i]
            cumulative.append((f"{2**i / 1e6:.6g}", float(running)))
        cumulative.append(("+Inf", float(sum(self.buckets))))
        yield HistogramMetricFamily(
            self.name.removesuffix("s") + "_duration_seconds",
            "Time from a claim's decision to its durable write (refusals from memory excluded).",
            buckets=cumulative,
            sum_value=self.ns / 1e9,
        )


class RoomFigures(Protocol):
    """One waiting room, as `WaitingRoom.size` gives it."""

    @property
    def waiting(self) -> int: ...
    @property
    def admitted(self) -> int: ...
    @property
    def admitted_total(self) -> int: ...
    @property
    def abandoned_total(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SaleFigures:
    """What the live sale looks like at a scrape, read from the engine."""

    titles: Mapping[str, str]  # launch -> its title, for a dashboard's picker
    units: Mapping[tuple[str, str, str], int]  # (launch, sku, state) -> units
    sweeper_lag_seconds: float  # how long the oldest due expiry has waited for the sweeper
    payments_unsettled: int = 0  # asked of the provider, outcome not known yet
    oldest_unsettled_seconds: float = 0.0
    webhook_age_seconds: float | None = None  # since the provider's last genuine webhook


class _Collected(Collector):
    """Figures read at each scrape from the objects that keep them."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        metrics = self._metrics
        yield from metrics.claims.collect()
        rooms = metrics.rooms() if metrics.rooms is not None else {}
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "waiting": GaugeMetricFamily(
                "soldout_waiting_room_fans", "Fans waiting in a launch's room.", labels=["launch"]
            ),
            "admitted": GaugeMetricFamily(
                "soldout_waiting_room_admitted",
                "Fans let in whose admission has not expired.",
                labels=["launch"],
            ),
            "admitted_total": CounterMetricFamily(
                "soldout_waiting_room_admissions",
                "Fans let in from a launch's room (its rate: the admission rate).",
                labels=["launch"],
            ),
            "abandoned_total": CounterMetricFamily(
                "soldout_waiting_room_abandoned",
                "Places skipped because their fan had stopped polling.",
                labels=["launch"],
            ),
        }
        for launch, room in sorted(rooms.items()):
            for field, family in families.items():
                family.add_metric([launch], getattr(room, field))
        yield from families.values()
        emails = CounterMetricFamily(
            "soldout_emails",
            "E-mails the outbox handled, by outcome (deferred: to be tried again).",
            labels=["outcome"],
        )
        for outcome, count in sorted((metrics.emails() if metrics.emails else {}).items()):
            emails.add_metric([outcome], count)
        yield emails
        if metrics.sale is None:
            return
        sale = metrics.sale()
        info = GaugeMetricFamily(
            "soldout_launch_info", "A live launch's title (always 1).", labels=["launch", "title"]
        )
        for launch, title in sorted(sale.titles.items()):
            info.add_metric([launch, title], 1)
        yield info
        units = GaugeMetricFamily(
            "soldout_units",
            "A live launch's units by state: available to anyone, set aside for priority"
            " codes, held by a claim not yet paid, paid.",
            labels=["launch", "sku", "state"],
        )
        for key, count in sorted(sale.units.items()):
            units.add_metric(list(key), count)
        yield units
        yield GaugeMetricFamily(
            "soldout_payments_unsettled",
            "Payments asked of the provider whose outcome is not known yet.",
            value=sale.payments_unsettled,
        )
        yield GaugeMetricFamily(
            "soldout_payment_oldest_unsettled_seconds",
            "Age of the oldest of those (the periodic check asks the provider about it).",
            value=sale.oldest_unsettled_seconds,
        )
        heard = GaugeMetricFamily(
            "soldout_payment_webhook_age_seconds",
            "Seconds since the provider's last genuine webhook (absent: none since the start).",
        )
        if sale.webhook_age_seconds is not None:
            heard.add_metric([], sale.webhook_age_seconds)
        yield heard
        yield GaugeMetricFamily(
            "soldout_sweeper_lag_seconds",
            "How long the oldest due claim expiry has waited for the sweeper (0: keeping up).",
            value=sale.sweeper_lag_seconds,
        )


class Metrics:
    """One platform's metrics and their registry.

    Sources read at a scrape are set after construction, by whoever owns them:
    `rooms` (launch -> RoomFigures), `sale` (SaleFigures), `emails` (outcome -> count)
    and `refreshers` (awaited before each scrape, e.g. to count the outbox in the store).
    """

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        build = Gauge("soldout_build_info", "The version.", ["version"], registry=registry)
        build.labels(__version__).set(1)
        self.claims = ClaimMeter()
        self.rooms: Callable[[], Mapping[str, RoomFigures]] | None = None
        self.sale: Callable[[], SaleFigures] | None = None
        self.emails: Callable[[], Mapping[str, int]] | None = None
        self.refreshers: list[Callable[[], Awaitable[None]]] = []
        self.requests = Counter(
            "soldout_http_requests",
            "HTTP requests other than claims, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "soldout_http_request_duration_seconds",
            "Time to answer an HTTP request other than a claim, by method and route.",
            ["method", "route"],
            registry=registry,
        )
        self.commit_writes = Histogram(
            "soldout_group_commit_writes",
            "Writes carried by one group commit (one transaction, one fsync).",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "soldout_group_commit_fsync_seconds",
            "Time of a group commit's COMMIT (SQLite: its fsync; PostgreSQL: the round trip).",
            buckets=_FSYNC_BUCKETS,
            registry=registry,
        )
        self.store_failed = Gauge(
            "soldout_store_failed",
            "1 once the store has stopped taking writes (a failed commit; restart to recover).",
            registry=registry,
        )
        self.payments = Counter(
            "soldout_payments",
            "Calls to the payment provider and webhooks from it, by step and outcome.",
            ["provider", "step", "outcome"],
            registry=registry,
        )
        self.outbox = Gauge(
            "soldout_outbox_pending",
            "E-mails written and not yet sent: the outbox's backlog.",
            registry=registry,
        )
        self.outbox_late = Gauge(
            "soldout_outbox_oldest_due_seconds",
            "How long the e-mail due first has been due (0: none overdue).",
            registry=registry,
        )
        registry.register(_Collected(self))
        # each series' child, found once: `labels()` locks and builds its key every call,
        # and a payment counts three (routes are templates and statuses few: bounded)
        self._payment_counters: dict[tuple[str, str, str], Any] = {}
        self._request_meters: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def committed(self, writes: int, seconds: float) -> None:
        """A group commit carried `writes` and its COMMIT took `seconds`."""
        self.commit_writes.observe(writes)
        self.commit_seconds.observe(seconds)

    def payment(self, provider: str, step: str, outcome: str) -> None:
        key = (provider, step, outcome)
        counter = self._payment_counters.get(key)
        if counter is None:
            counter = self._payment_counters[key] = self.payments.labels(*key)
        counter.inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"
        key = (method, route, status)
        meters = self._request_meters.get(key)
        if meters is None:
            meters = (
                self.requests.labels(method, route, str(status)),
                self.request_seconds.labels(method, route),
            )
            self._request_meters[key] = meters
        meters[0].inc()
        meters[1].observe(seconds)

    async def render(self) -> bytes:
        """A scrape's body (after the refreshers have read what lives in the store)."""
        for refresh in self.refreshers:
            await refresh()
        return generate_latest(self.registry)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Any], Awaitable[None]]


class HttpMeter:
    """ASGI middleware: counts and times each request by its route's template (never
    the path itself: `/signin/{token}` carries a secret), `unmatched` when no route took
    it, and a mounted app's prefix (`/static/{path}`) for its files."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # until an answer starts: the request failed

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, watched)
        finally:
            self._metrics.request(
                scope["method"], route_of(scope), status, time.perf_counter() - started
            )


def route_of(scope: Scope) -> str:
    return route_template(scope) or "unmatched"


def route_template(scope: Scope) -> str | None:
    """The template of the route that took the request: FastAPI's route leaves itself in
    the scope, a plain Starlette route (`/openapi.json`) only its endpoint, a mounted
    app its prefix (`/swagger/{path}`); None when no route took it."""
    route = scope.get("route")
    endpoint = scope.get("endpoint")
    if route is None and endpoint is not None:
        routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
        route = next((r for r in routes if getattr(r, "endpoint", None) is endpoint), None)
    path = getattr(route, "path", None)
    if path is not None:
        return str(path)
    mounted = scope.get("root_path") or ""
    return f"{mounted}/{{path}}" if mounted else None
