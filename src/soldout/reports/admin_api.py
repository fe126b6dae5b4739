"""Read a launch's record from a soldout server over its admin API, into plain records.

    with AdminApi("http://127.0.0.1:8000", token) as api:
        record = api.launch_record("lau_...")

Talks to the given URL only (no redirects followed). Every failure is a `ReportError`
with a one-line message for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from soldout.clock import utc
from soldout.reports.records import (
    ClaimRecord,
    LaunchRecord,
    MarginLine,
    OrderRecord,
    Referrer,
    ServerRecord,
    SkuCounts,
    ViralFigure,
)

__all__ = ["AdminApi", "ReportError"]

T = TypeVar("T")

TIMEOUT_SECONDS = 30.0
CLAIMS_PAGE = 10_000
ORDERS_PAGE = 1_000
TOP_REFERRERS = 10


class ReportError(Exception):
    """The report cannot be made; the message says why, in one line."""


class AdminApi:
    def __init__(
        self, url: str, admin_token: str, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ReportError(f"--url must look like http://HOST:PORT, not {url!r}")
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url,
            headers={"authorization": f"Bearer {admin_token}", "accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> AdminApi:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._client.close()

    def launch_record(self, launch_id: str) -> ServerRecord:
        base = f"/api/v1/launches/{quote(launch_id, safe='')}"
        # Stats first: it needs the admin token, so a bad token is told apart from an
        # unknown launch (the launch page itself is public).
        stats = self._get(base + "/stats", launch_id=launch_id)
        view = self._get(base)
        margin = self._get(base + "/margin")
        viral = self._get(base + "/referrals")
        # A real launch's report names real fans only; a rehearsal's, its own made-up fans.
        run = view.get("rehearsal") if isinstance(view, dict) else None
        who = {"rehearsal": run} if isinstance(run, str) else {}
        top = self._get("/api/v1/referrals/top", params={"n": TOP_REFERRERS, **who})
        launch = self._parse(base, lambda: _launch(view, stats))
        claims = self._parse(base + "/claims", lambda: tuple(map(_claim, self._claims(base))))
        orders = self._parse("/api/v1/orders", lambda: tuple(map(_order, self._orders(launch_id))))
        skus, totals = self._parse(base + "/margin", lambda: _margin(margin))
        referrers = self._parse("/api/v1/referrals/top", lambda: tuple(map(_referrer, top)))
        figure = self._parse(base + "/referrals", lambda: _viral(viral))
        return ServerRecord(launch, claims, orders, skus, totals, referrers, figure)

    def _claims(self, base: str) -> Iterator[dict[str, Any]]:
        after: int | None = 0
        while after is not None:
            page = self._get(base + "/claims", params={"after": after, "limit": CLAIMS_PAGE})
            yield from page["claims"]
            following = page["next"]
            after = following if isinstance(following, int) and following > after else None

    def _orders(self, launch_id: str) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"launch_id": launch_id, "limit": ORDERS_PAGE}
        while True:
            page = self._get("/api/v1/orders", params=params)
            yield from page["orders"]
            following = page["next"]
            if not following or following == params.get("after"):
                return
            params = {**params, "after": following}

    def _parse(self, path: str, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ReportError(f"{self.url}{path} answered in an unexpected shape ({exc})") from exc

    def _get(
        self, path: str, *, params: dict[str, Any] | None = None, launch_id: str | None = None
    ) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise ReportError(f"cannot reach the soldout server at {self.url}: {reason}") from exc
        if response.status_code == 401:
            raise ReportError(f"{self.url} refused the admin token (401): check --admin-token")
        if response.status_code == 403:
            raise ReportError(f"{self.url} refused the token (403): a report needs the admin token")
        if response.status_code == 404 and launch_id is not None:
            raise ReportError(f"no launch {launch_id!r} on {self.url}")
        if not response.is_success:
            raise ReportError(f"{self.url}{path} answered {response.status_code}: {_why(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise ReportError(
                f"{self.url}{path} did not answer JSON: is it a soldout server?"
            ) from exc


def _why(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase or "no reason given"


def _referrer(r: dict[str, Any]) -> Referrer:
    return Referrer(r["fan_id"], r["direct_referrals"], r["referred_paid_orders"], r["points"])


def _viral(v: dict[str, Any]) -> ViralFigure:
    return ViralFigure(v["paid_orders"], v["via_referral"], v["viral_figure"])


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"a time must be a string, not {value!r}")
    return utc(datetime.fromisoformat(value))


def _maybe_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _launch(view: dict[str, Any], stats: dict[str, Any]) -> LaunchRecord:
    skus = tuple(
        SkuCounts(code, c["batch"], c["available"], c["set_aside"], c["held"], c["paid"])
        for code, c in stats["skus"].items()
    )
    room = stats.get("waiting_room")
    return LaunchRecord(
        id=view["id"],
        title=view["title"],
        product_name=view.get("product_name") or "",
        status=stats["status"],
        mode=view.get("mode", "first_come"),
        sale_opens_at=_time(view["sale_opens_at"]),
        sale_closes_at=_maybe_time(view.get("sale_closes_at")),
        has_waiting_room=bool(view.get("waiting_room")),
        reservations=stats["reservations"],
        skus=skus,
        claims_by_state=dict(stats.get("claims") or {}),
        admitted=room["admitted_total"] if room else None,
    )


def _claim(c: dict[str, Any]) -> ClaimRecord:
    return ClaimRecord(
        id=c["id"],
        fan_id=c["fan_id"],
        sku=c["sku"],
        quantity=c["quantity"],
        state=c["state"],
        created_at=_time(c["created_at"]),
        closed_at=_maybe_time(c.get("closed_at")),
        order_id=c.get("order_id"),
        priority_code=c.get("priority_code"),
    )


def _order(o: dict[str, Any]) -> OrderRecord:
    return OrderRecord(
        id=o["id"],
        claim_id=o["claim_id"],
        sku=o["sku"],
        quantity=o["quantity"],
        total=o["total"],
        currency=o["currency"],
        status=o["status"],
        paid_at=_time(o["paid_at"]),
        refunded_at=_maybe_time(o.get("refunded_at")),
    )


def _margin(body: dict[str, Any]) -> tuple[tuple[MarginLine, ...], tuple[MarginLine, ...]]:
    skus = tuple(_margin_line(code, line["currency"], line) for code, line in body["skus"].items())
    totals = tuple(_margin_line("total", cur, line) for cur, line in body["totals"].items())
    return skus, totals


def _margin_line(label: str, currency: str, line: dict[str, Any]) -> MarginLine:
    return MarginLine(
        label=label,
        currency=currency,
        units=line["units"],
        revenue=line["revenue"],
        cost=line["cost"],
        margin=line["margin"],
        margin_percent=line.get("margin_percent"),
        refunded_units=line.get("refunded_units", 0),
    )
