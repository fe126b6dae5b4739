"""The whole report without a server: the admin API answered by an in-memory transport
(paged the way the server pages), the page and its charts written, and each failure of
the server turned into one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from soldout.clock import FakeClock
from soldout.reports import ReportError, build_report
from soldout.reports.analysis import analyse
from soldout.reports.client_log import parse_client_log
from soldout.reports.html import Sources, render_page
from soldout.reports.plots import draw_all
from soldout.reports.records import LaunchRecord, ServerRecord, SkuCounts, ViralFigure

OPENS = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
URL = "http://soldout.test"
TOKEN = "adm"


def at(seconds: float) -> str:
    return (OPENS + timedelta(seconds=seconds)).isoformat()


def claim(n: int, state: str, created: float, closed: float | None) -> dict[str, Any]:
    return {
        "id": f"clm_{n}",
        "fan_id": f"fan_{n}",
        "sku": "A",
        "quantity": 1,
        "state": state,
        "created_at": at(created),
        "closed_at": at(closed) if closed is not None else None,
        "order_id": f"ord_{n}" if state == "paid" else None,
        "priority_code": None,
        "payment": None,  # fields the report does not use are ignored
    }


# Five units: fans 0-4 take them in the first 2.5 s (sold out at +2.0 when fan 4 claims),
# fan 1's claim expires at +12 and fan 5 takes the unit back at +13.
CLAIMS = [
    claim(0, "paid", 0.0, 3.0),
    claim(1, "expired", 0.5, 12.0),
    claim(2, "paid", 1.0, 4.0),
    claim(3, "paid", 1.5, 5.0),
    claim(4, "held", 2.0, None),
    claim(5, "paid", 13.0, 20.0),
]
ORDERS = [
    {
        "id": f"ord_{c['id'][4:]}",
        "claim_id": c["id"],
        "sku": "A",
        "quantity": 1,
        "total": 1299,
        "currency": "EUR",
        "status": "scheduled",
        "paid_at": c["closed_at"],
        "refunded_at": None,
    }
    for c in CLAIMS
    if c["state"] == "paid"
]
MARGIN = {
    "launch_id": "lau_1",
    "skus": {
        "A": {
            "units": 4,
            "revenue": 5196,
            "cost": 3600,
            "refunded_units": 0,
            "currency": "EUR",
            "unit_price": 1299,
            "unit_cost": 900,
            "margin": 1596,
            "margin_percent": 30.72,
        }
    },
    "totals": {
        "EUR": {"units": 4, "revenue": 5196, "cost": 3600, "margin": 1596, "margin_percent": 30.72}
    },
}


def server_answers(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    """The admin API of a server with one launch, `lau_1`, pages of two at a time."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "no"}})
        path, q = request.url.path, request.url.params
        if path.startswith("/api/v1/launches/") and not path.startswith("/api/v1/launches/lau_1"):
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "launch"}})
        base = "/api/v1/launches/lau_1"
        if path == base:
            return httpx.Response(
                200,
                json={
                    "id": "lau_1",
                    "title": "Model One <drop>",
                    "product_name": "Model One",
                    "mode": "first_come",
                    "waiting_room": False,
                    "sale_opens_at": OPENS.isoformat(),
                    "sale_closes_at": None,
                    "reservations": 2,
                    "skus": [],
                },
            )
        if path == base + "/stats":
            return httpx.Response(
                200,
                json={
                    "status": "sold_out",
                    "reservations": 2,
                    "claims": {"paid": 4, "held": 1},
                    "skus": {
                        "A": {"batch": 5, "available": 0, "set_aside": 0, "held": 1, "paid": 4}
                    },
                    "waiting_room": None,
                },
            )
        if path == base + "/claims":
            after, limit = int(q["after"]), 2
            page = CLAIMS[after : after + limit]
            following = after + limit if after + limit < len(CLAIMS) else None
            return httpx.Response(200, json={"claims": page, "next": following})
        if path == "/api/v1/orders":
            assert q["launch_id"] == "lau_1"
            after = int(q.get("after", "0"))
            page = ORDERS[after : after + 2]
            cursor = str(after + 2) if after + 2 < len(ORDERS) else None
            return httpx.Response(200, json={"orders": page, "next": cursor})
        if path == base + "/margin":
            return httpx.Response(200, json=MARGIN)
        if path == base + "/referrals":
            return httpx.Response(
                200, json={"paid_orders": 4, "via_referral": 1, "viral_figure": 0.25}
            )
        if path == "/api/v1/referrals/top":
            return httpx.Response(
                200,
                json=[
                    {
                        "fan_id": "fan_9",
                        "direct_referrals": 2,
                        "referred_paid_orders": 1,
                        "points": 10,
                    }
                ],
            )
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "?"}})

    return answer


def build(
    tmp_path: Path,
    *,
    log: Path | None = None,
    token: str = TOKEN,
    launch: str = "lau_1",
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
) -> Any:
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(handler or server_answers(seen))
    clock = FakeClock(OPENS + timedelta(minutes=5))
    built = build_report(
        launch, URL, token, log=log, out=tmp_path / "out", clock=clock, transport=transport
    )
    return built, seen


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))


def test_a_server_side_report_reads_every_page_and_shows_the_record(tmp_path: Path) -> None:
    built, seen = build(tmp_path)
    claims_pages = [r for r in seen if r.url.path.endswith("/claims")]
    orders_pages = [r for r in seen if r.url.path == "/api/v1/orders"]
    assert [r.url.params["after"] for r in claims_pages] == ["0", "2", "4"]
    assert len(orders_pages) == 2
    assert all(r.url.host == "soldout.test" for r in seen)  # nothing else is contacted

    a = built.analysis
    assert (a.claims, a.orders, a.units_paid, a.units_held, a.open_units) == (6, 4, 4, 1, 5)
    assert a.sold_out_at == 2.0
    assert [(s.name, s.fans) for s in a.funnel] == [
        ("visitors", 6),
        ("reserved", 2),
        ("admitted", None),
        ("claimed", 6),
        ("paid", 4),
    ]
    assert a.client is None

    page = built.page.read_text()
    parser = Page()
    parser.feed(page)
    assert "script" not in parser.tags
    assert {i["src"] for i in parser.images} == {"units.png", "funnel.png"}
    assert all(len(i["alt"] or "") > 40 for i in parser.images)
    assert "Model One &lt;drop&gt;" in page  # escaped
    for figure in ("EUR 51.96", "EUR 36.00", "EUR 15.96 (30.72%)", "25.0% (1 of 4 paid"):
        assert figure in page
    assert "at +2 s (12:00:02 UTC)" in page
    assert "Server-side only" in page
    assert (tmp_path / "out" / "units.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_with_a_log_the_page_shows_traffic_fairness_and_skipped_lines(tmp_path: Path) -> None:
    opens = OPENS.timestamp()
    lines = [
        {
            "t_start": opens + 0.1 * n,
            "latency_ms": 10.0 + n,
            "kind": "claim",
            "status": 201 if n < 6 else 409,
            "actor": "bot" if n % 2 else "fan",
            "fan_id": f"fan_{n}",
        }
        for n in range(8)
    ]
    log = tmp_path / "run.jsonl"
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n{oops\n")
    built, _ = build(tmp_path, log=log)
    client = built.analysis.client
    assert client is not None
    assert (client.requests, len(client.skipped)) == (8, 1)
    assert [(r.actor, r.fans, r.winners) for r in client.by_actor] == [("fan", 4, 3), ("bot", 4, 3)]
    assert set(built.plots) == {"units", "funnel", "requests", "latency", "by_actor", "by_arrival"}
    page = built.page.read_text()
    assert "line 9: not JSON" in page
    assert "Server-side only" not in page


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token": "wrong"}, f"{URL} refused the admin token (401): check --admin-token"),
        ({"launch": "lau_nope"}, f"no launch 'lau_nope' on {URL}"),
        ({"launch": "../../orders"}, f"no launch '../../orders' on {URL}"),
    ],
)
def test_server_refusals_are_one_line(tmp_path: Path, kwargs: Any, message: str) -> None:
    with pytest.raises(ReportError) as caught:
        build(tmp_path, **kwargs)
    assert str(caught.value) == message
    assert not (tmp_path / "out").exists()


def refusing(status: int, body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, content=body)


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (unreachable, f"cannot reach the soldout server at {URL}: connection refused"),
        (refusing(403, b"{}"), f"{URL} refused the token (403): a report needs the admin token"),
        (
            refusing(500, b'{"error": {"code": "internal_error", "message": "boom"}}'),
            f"{URL}/api/v1/launches/lau_1/stats answered 500: boom",
        ),
        (refusing(200, b"<html>"), f"{URL}/api/v1/launches/lau_1/stats did not answer JSON"),
        (refusing(200, b"{}"), f"{URL}/api/v1/launches/lau_1 answered in an unexpected shape"),
    ],
)
def test_server_failures_are_one_line(
    tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response], message: str
) -> None:
    with pytest.raises(ReportError) as caught:
        build(tmp_path, handler=handler)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="--url must look like http://HOST:PORT"):
        build_report("lau_1", "file:///etc/passwd", TOKEN, out=tmp_path)


def test_an_empty_launch_and_a_log_of_garbage_still_make_a_page(tmp_path: Path) -> None:
    launch = LaunchRecord(
        id="lau_0",
        title="Nothing yet",
        product_name="p",
        status="scheduled",
        mode="first_come",
        sale_opens_at=OPENS,
        sale_closes_at=None,
        has_waiting_room=False,
        reservations=0,
        skus=(SkuCounts("A", 5, 5, 0, 0, 0),),
    )
    record = ServerRecord(launch, (), (), (), (), (), ViralFigure(0, 0, None))
    log = parse_client_log(["nope", '{"t_start": "x"}'])
    analysis = analyse(record, log, OPENS)
    plots = draw_all(analysis, tmp_path)
    page = render_page(analysis, plots, Sources(URL, "run.jsonl"))
    assert plots == {}
    assert analysis.sold_out_at is None
    for text in (
        "No claims yet",
        "did not sell out",
        "The client log has no readable request",
        "The client log names no fan",
        "no paid orders yet",
        "2 lines of the client log could not be read and were left out",
    ):
        assert text in page
