"""After the sale, over HTTP: production plans and ship dates, shipping, refunds, the order
list and its CSV export, margin and reconciliation.

The module runs its own server, so reconciliation sees only what these tests did. Every
test makes its own product (a product has one fulfilment queue per SKU), launch and fans.
Ship dates are computed by hand from the plan each test writes, on days far in the future.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, claim, error, iso, now, register, shipping_address

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

D = date(2031, 3, 10)  # the first production day of every plan here


def day(n: int) -> str:
    return (D + timedelta(days=n)).isoformat()


def rate(starts: int, units_per_day: int) -> dict[str, Any]:
    return {"starts_on": day(starts), "units_per_day": units_per_day}


# 2 units ready on D, then 1 a day from D+1: orders 1-2 ship on D, order 3 on D+1, ...
TWO_THEN_ONE_A_DAY = {"starts_on": day(0), "produced": 2, "rates": [rate(1, 1)]}


# -- the server and helpers ------------------------------------------------------------


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("fulfilment") / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def admin(desk_server: ServerProcess) -> Iterator[httpx.Client]:
    """The maker's client, on this module's server."""
    with desk_server.admin() as client:
        yield client


@pytest.fixture(scope="module")
def anyone(desk_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client without a token, on this module's server."""
    with desk_server.client() as client:
        yield client


@dataclass(frozen=True)
class Sale:
    product_id: str
    launch_id: str

    def plan_url(self, sku: str = "A") -> str:
        return f"/api/v1/products/{self.product_id}/skus/{sku}/plan"

    def shipments_url(self, sku: str = "A") -> str:
        return f"/api/v1/products/{self.product_id}/skus/{sku}/shipments"


@dataclass(frozen=True)
class Bought:
    fan: dict[str, Any]
    order: dict[str, Any]

    @property
    def id(self) -> str:
        order_id: str = self.order["id"]
        return order_id


def open_sale(
    admin: httpx.Client,
    batch: dict[str, int],
    prices: dict[str, tuple[int, int | None]] | None = None,
    **rules: Any,
) -> Sale:
    """A new product (SKU code -> (price, cost), in EUR cents; a cost of None is left
    out: not given) and a launch on sale now."""
    prices = prices or {code: (2500, 1700) for code in batch}
    skus = [
        {"code": code, "name": f"SKU {code}", "price": p, "currency": "EUR"}
        | ({} if c is None else {"cost": c})
        for code, (p, c) in prices.items()
    ]
    product = admin.post("/api/v1/products", json={"name": "Deck", "skus": skus})
    assert product.status_code == 201, product.text
    launch = admin.post(
        "/api/v1/launches",
        json={
            "product_id": product.json()["id"],
            "title": "fulfilment test",
            "sale_opens_at": iso(now() - timedelta(seconds=1)),
            "batch": batch,
            "race": "fast",  # claims go straight to the engine here: no room, no proof
            **rules,
        },
    )
    assert launch.status_code == 201, launch.text
    return Sale(product.json()["id"], launch.json()["id"])


def auth(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


def held_claim(
    anyone: httpx.Client, sale: Sale, fan: dict[str, Any], sku: str = "A", quantity: int = 1
) -> dict[str, Any]:
    response = claim(anyone, sale.launch_id, fan["token"], sku=sku, quantity=quantity)
    assert response.status_code == 201, response.text
    held: dict[str, Any] = response.json()
    return held


def pay(anyone: httpx.Client, claim_id: str, fan: dict[str, Any]) -> dict[str, Any]:
    response = anyone.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers={**auth(fan), "idempotency-key": uuid.uuid4().hex},
    )
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def buy(
    anyone: httpx.Client,
    sale: Sale,
    sku: str = "A",
    quantity: int = 1,
    fan: dict[str, Any] | None = None,
) -> Bought:
    """A new fan (unless given) claims and pays; returns the fan and the order."""
    fan = fan or register(anyone)
    held = held_claim(anyone, sale, fan, sku, quantity)
    return Bought(fan, pay(anyone, held["id"], fan))


def buy_many(anyone: httpx.Client, sale: Sale, count: int, sku: str = "A") -> list[Bought]:
    return [buy(anyone, sale, sku) for _ in range(count)]


def put_plan(admin: httpx.Client, sale: Sale, plan: dict[str, Any], sku: str = "A") -> Any:
    response = admin.put(sale.plan_url(sku), json=plan)
    assert response.status_code == 200, response.text
    return response.json()


def order_of(anyone: httpx.Client, bought: Bought) -> dict[str, Any]:
    response = anyone.get(f"/api/v1/orders/{bought.id}", headers=auth(bought.fan))
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def ship_dates(anyone: httpx.Client, orders: list[Bought]) -> list[str | None]:
    return [order_of(anyone, b)["ship_date"] for b in orders]


def statuses(anyone: httpx.Client, orders: list[Bought]) -> list[str]:
    return [order_of(anyone, b)["status"] for b in orders]


def notifications(anyone: httpx.Client, fan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The fan's notifications of one kind, newest first."""
    response = anyone.get("/api/v1/me/notifications", headers=auth(fan))
    assert response.status_code == 200, response.text
    return [n for n in response.json() if n["kind"] == kind]


def launch_sku(anyone: httpx.Client, sale: Sale, sku: str = "A") -> dict[str, Any]:
    launch = anyone.get(f"/api/v1/launches/{sale.launch_id}")
    assert launch.status_code == 200, launch.text
    (found,) = [s for s in launch.json()["skus"] if s["code"] == sku]
    return {**found, "launch_status": launch.json()["status"]}


def refund(admin: httpx.Client, bought: Bought) -> dict[str, Any]:
    response = admin.post(f"/api/v1/orders/{bought.id}/refund", json={"reason": "asked"})
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def ship_csv(admin: httpx.Client, text: str) -> httpx.Response:
    return admin.post("/api/v1/shipments", content=text, headers={"content-type": "text/csv"})


def assert_reconciled(admin: httpx.Client) -> None:
    response = admin.get("/api/v1/reconciliation")
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "mismatches": []}


# -- plans and ship dates --------------------------------------------------------------


def test_paid_orders_ship_on_the_days_the_plan_makes_their_units(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 6})
    answer = put_plan(admin, sale, TWO_THEN_ONE_A_DAY)
    assert answer["plan"] == {
        "starts_on": day(0),
        "produced": 2,
        "rates": [{"starts_on": day(1), "units_per_day": 1}],
        "adjustments": [],
    }
    assert (answer["recomputed"], answer["moved"], answer["later"], answer["unscheduled"]) == (
        0,
        0,
        [],
        [],
    )
    assert launch_sku(anyone, sale)["next_ship_date"] == day(0)

    bought = []
    for expected in [day(0), day(0), day(1), day(2)]:
        fan = register(anyone)
        held = held_claim(anyone, sale, fan)
        before_paying = anyone.get(f"/api/v1/claims/{held['id']}", headers=auth(fan)).json()
        assert before_paying["estimated_ship_date"] == expected
        order = pay(anyone, held["id"], fan)
        assert (order["ship_date"], order["status"]) == (expected, "scheduled")
        bought.append(Bought(fan, order))

    assert launch_sku(anyone, sale)["next_ship_date"] == day(3)
    queue = admin.get(sale.plan_url()).json()
    assert (queue["open_orders"], queue["open_units"], queue["shipped_units"]) == (4, 4, 0)
    assert queue["next_ship_date"] == day(3)
    third = order_of(anyone, bought[2])
    assert [h["kind"] for h in third["history"]] == ["paid", "scheduled"]
    assert day(1) in third["history"][1]["detail"]
    (confirmed,) = notifications(anyone, bought[2].fan, "order_confirmed")
    assert confirmed["data"] == {"order_id": bought[2].id, "ship_date": day(1)}


def test_a_bigger_order_ships_when_all_its_units_are_made(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 6}, per_fan_limit=3)
    put_plan(admin, sale, TWO_THEN_ONE_A_DAY)
    one = buy(anyone, sale)  # unit 1: D
    three = buy(anyone, sale, quantity=3)  # units 2-4: the 4th is made on D+2
    assert [one.order["ship_date"], three.order["ship_date"]] == [day(0), day(2)]
    assert launch_sku(anyone, sale)["next_ship_date"] == day(3)


def test_a_plan_that_started_in_the_past_dates_no_order_before_the_day_it_was_paid(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 6})
    fan = register(anyone)
    early = Bought(fan, pay(anyone, held_claim(anyone, sale, fan)["id"], fan))
    before = now().date()
    # made since thirty days ago, two a day: the units were ready before anyone paid
    started = before - timedelta(days=30)
    plan = {
        "starts_on": started.isoformat(),
        "rates": [{"starts_on": started.isoformat(), "units_per_day": 2}],
    }
    put_plan(admin, sale, plan)
    later = buy_many(anyone, sale, 2)
    after = now().date()
    today = {before.isoformat(), after.isoformat()}  # (a run across midnight)

    dates = ship_dates(anyone, [early, *later])
    assert set(dates) <= today, dates
    assert launch_sku(anyone, sale)["next_ship_date"] in today
    assert admin.get(sale.plan_url()).json()["next_ship_date"] in today
    (confirmed,) = notifications(anyone, later[0].fan, "order_confirmed")
    assert confirmed["data"]["ship_date"] in today
    fan = register(anyone)
    held = held_claim(anyone, sale, fan)
    seen = anyone.get(f"/api/v1/claims/{held['id']}", headers=auth(fan)).json()
    assert seen["estimated_ship_date"] in today


def test_orders_paid_before_any_plan_have_no_date_until_one_is_set(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 3})
    assert launch_sku(anyone, sale)["next_ship_date"] is None
    fan = register(anyone)
    held = held_claim(anyone, sale, fan)
    seen = anyone.get(f"/api/v1/claims/{held['id']}", headers=auth(fan)).json()
    assert seen["estimated_ship_date"] is None
    early = Bought(fan, pay(anyone, held["id"], fan))
    assert (early.order["ship_date"], early.order["status"]) == (None, "paid")

    answer = put_plan(admin, sale, TWO_THEN_ONE_A_DAY)

    assert (answer["recomputed"], answer["moved"], answer["later"]) == (1, 1, [])
    assert answer["unscheduled"] == []
    seen_now = order_of(anyone, early)
    assert (seen_now["ship_date"], seen_now["status"]) == (day(0), "scheduled")
    # its first date is given, not changed (the order page reads "Ship date given: ...
    # (before: no date)", domain/order_history.py)
    last = seen_now["history"][-1]
    assert (last["kind"], last["detail"]) == ("scheduled", f"ships on {day(0)}")


def test_a_smaller_plan_moves_only_the_orders_it_must_and_tells_their_fans(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 6})
    put_plan(admin, sale, TWO_THEN_ONE_A_DAY)
    orders = buy_many(anyone, sale, 5)
    assert ship_dates(anyone, orders) == [day(0), day(0), day(1), day(2), day(3)]

    # A gap: nothing made on D+2 and D+3. Ready by the end of each day: 2, 3, 3, 3, 4, 5.
    gap = {"starts_on": day(0), "produced": 2, "rates": [rate(1, 1), rate(2, 0), rate(4, 1)]}
    answer = put_plan(admin, sale, gap)

    assert (answer["recomputed"], answer["moved"], answer["unscheduled"]) == (5, 2, [])
    assert answer["later"] == [
        {"order_id": orders[3].id, "before": day(2), "after": day(4)},
        {"order_id": orders[4].id, "before": day(3), "after": day(5)},
    ]
    assert ship_dates(anyone, orders) == [day(0), day(0), day(1), day(4), day(5)]

    # The line stops after D+1: 3 units in all, orders 4 and 5 have no date.
    stop = {"starts_on": day(0), "produced": 2, "rates": [rate(1, 1), rate(2, 0)]}
    answer = put_plan(admin, sale, stop)

    assert (answer["recomputed"], answer["moved"]) == (5, 2)
    assert answer["later"] == [
        {"order_id": orders[3].id, "before": day(4), "after": None},
        {"order_id": orders[4].id, "before": day(5), "after": None},
    ]
    assert answer["unscheduled"] == [orders[3].id, orders[4].id]
    assert ship_dates(anyone, orders) == [day(0), day(0), day(1), None, None]
    assert statuses(anyone, orders) == ["scheduled", "scheduled", "scheduled", "paid", "paid"]
    assert admin.get(sale.plan_url()).json()["next_ship_date"] is None
    assert launch_sku(anyone, sale)["next_ship_date"] is None

    for bought in orders[:3]:
        assert notifications(anyone, bought.fan, "ship_date_changed") == []
        assert [h["kind"] for h in order_of(anyone, bought)["history"]] == ["paid", "scheduled"]
    fourth, fifth = orders[3], orders[4]
    assert [n["data"] for n in notifications(anyone, fourth.fan, "ship_date_changed")] == [
        {"order_id": fourth.id, "before": day(4), "after": None},
        {"order_id": fourth.id, "before": day(2), "after": day(4)},
    ]
    assert [n["data"] for n in notifications(anyone, fifth.fan, "ship_date_changed")] == [
        {"order_id": fifth.id, "before": day(5), "after": None},
        {"order_id": fifth.id, "before": day(3), "after": day(5)},
    ]
    history = order_of(anyone, fourth)["history"]
    assert [h["kind"] for h in history] == ["paid", "scheduled", *["ship_date_changed"] * 2]
    assert day(4) in history[2]["detail"]
    assert_reconciled(admin)


def test_an_adjustment_moves_the_dates_of_the_days_it_changes(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 6})
    put_plan(admin, sale, TWO_THEN_ONE_A_DAY)
    orders = buy_many(anyone, sale, 5)
    # Two extra units on D+1: ready by the end of each day 2, 5, 6: orders 3-5 ship on D+1.
    overtime = {
        **TWO_THEN_ONE_A_DAY,
        "adjustments": [{"on": day(1), "units": 2, "note": "overtime"}],
    }

    answer = put_plan(admin, sale, overtime)

    assert (answer["moved"], answer["later"], answer["unscheduled"]) == (2, [], [])
    assert answer["plan"]["adjustments"] == [{"on": day(1), "units": 2, "note": "overtime"}]
    assert ship_dates(anyone, orders) == [day(0), day(0), day(1), day(1), day(1)]
    assert [n["data"] for n in notifications(anyone, orders[4].fan, "ship_date_changed")] == [
        {"order_id": orders[4].id, "before": day(3), "after": day(1)}
    ]
    assert notifications(anyone, orders[2].fan, "ship_date_changed") == []


def test_a_fan_told_their_order_has_no_date_is_told_when_it_gets_one(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 4})
    put_plan(admin, sale, TWO_THEN_ONE_A_DAY)
    orders = buy_many(anyone, sale, 3)
    put_plan(admin, sale, {"starts_on": day(0), "produced": 2})  # nothing more is made
    last = orders[2]
    (lost,) = notifications(anyone, last.fan, "ship_date_changed")
    assert lost["data"] == {"order_id": last.id, "before": day(1), "after": None}

    put_plan(admin, sale, TWO_THEN_ONE_A_DAY)

    assert order_of(anyone, last)["ship_date"] == day(1)
    back = notifications(anyone, last.fan, "ship_date_changed")
    assert [n["data"]["after"] for n in back] == [day(1), None]


# -- shipping --------------------------------------------------------------------------


def test_shipping_the_next_orders_goes_in_queue_order_with_tracking(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 6})
    put_plan(admin, sale, TWO_THEN_ONE_A_DAY)
    orders = buy_many(anyone, sale, 4)

    wrong_count = admin.post(
        sale.shipments_url(), json={"count": 2, "carrier": "DHL", "tracking_numbers": ["JD01"]}
    )
    assert error(wrong_count) == (422, "invalid", "tracking_numbers")
    none = admin.post(sale.shipments_url(), json={"count": 0, "carrier": "DHL"})
    assert error(none) == (422, "invalid", "count")
    assert statuses(anyone, orders) == ["scheduled"] * 4

    response = admin.post(
        sale.shipments_url(),
        json={"count": 2, "carrier": "DHL", "tracking_numbers": ["JD01", "JD02"]},
    )

    assert response.status_code == 200, response.text
    shipped = response.json()["shipped"]
    assert [(o["id"], o["tracking_number"]) for o in shipped] == [
        (orders[0].id, "JD01"),
        (orders[1].id, "JD02"),
    ]
    [logged] = [
        e
        for e in admin.get("/api/v1/audit", params={"limit": 20}).json()
        if e["action"] == "orders.ship" and e["subject"] == f"{sale.product_id}/A"
    ]
    assert logged["detail"] == {
        "orders": [orders[0].id, orders[1].id],
        "shipments": [
            {"order": orders[0].id, "carrier": "DHL", "tracking_number": "JD01"},
            {"order": orders[1].id, "carrier": "DHL", "tracking_number": "JD02"},
        ],
    }
    first = order_of(anyone, orders[0])
    assert (first["status"], first["carrier"], first["tracking_number"]) == (
        "shipped",
        "DHL",
        "JD01",
    )
    assert first["shipped_at"] is not None
    assert first["history"][-1]["kind"] == "shipped"
    assert "DHL" in first["history"][-1]["detail"]
    assert "JD01" in first["history"][-1]["detail"]
    (told,) = notifications(anyone, orders[0].fan, "order_shipped")
    assert told["data"] == {"order_id": orders[0].id, "carrier": "DHL", "tracking": "JD01"}
    assert statuses(anyone, orders) == ["shipped", "shipped", "scheduled", "scheduled"]
    # the ones still waiting keep their dates, and nobody was told a date moved
    assert ship_dates(anyone, orders[2:]) == [day(1), day(2)]
    assert all(notifications(anyone, b.fan, "ship_date_changed") == [] for b in orders)
    queue = admin.get(sale.plan_url()).json()
    assert (queue["open_orders"], queue["shipped_units"]) == (2, 2)

    rest = admin.post(sale.shipments_url(), json={"count": 10, "carrier": "UPS"})
    assert rest.status_code == 200, rest.text
    assert [(o["id"], o["tracking_number"]) for o in rest.json()["shipped"]] == [
        (orders[2].id, None),
        (orders[3].id, None),
    ]
    assert statuses(anyone, orders) == ["shipped"] * 4
    empty = admin.post(sale.shipments_url(), json={"count": 1, "carrier": "UPS"})
    assert empty.json() == {"shipped": []}
    assert_reconciled(admin)


def test_shipping_by_csv_is_all_or_nothing_and_names_the_bad_line(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 5})
    o1, o2, o3 = buy_many(anyone, sale, 3)
    header = "order_id,carrier,tracking_number\n"

    unknown = ship_csv(admin, f"{header}{o1.id},DHL,T1\nord_nobody,DHL,T2\n")
    assert error(unknown) == (404, "not_found", "line 3: order_id")
    assert statuses(anyone, [o1, o2, o3]) == ["paid"] * 3

    alone = ship_csv(admin, f"{header}{o2.id},DHL,T0\n")
    assert alone.status_code == 200, alone.text
    assert [o["id"] for o in alone.json()["shipped"]] == [o2.id]

    # shipped already, with no tracking number to set: a bad line
    again = ship_csv(admin, f"{header}{o1.id},DHL,T1\n{o3.id},DHL,T3\n{o2.id},DHL,\n")
    assert error(again) == (409, "not_shippable", "line 4: order_id")
    twice = ship_csv(admin, f"{header}{o1.id},DHL,T1\n{o1.id},DHL,T1\n")
    assert error(twice) == (422, "invalid", "line 3: order_id")
    no_carrier = ship_csv(admin, f"{header}{o1.id},,T1\n")
    assert error(no_carrier) == (422, "invalid", "line 2: carrier")
    no_header = ship_csv(admin, f"{o1.id},DHL,T1\n{o3.id},DHL,T3\n")
    assert error(no_header) == (422, "invalid", "line 1")
    assert statuses(anyone, [o1, o2, o3]) == ["paid", "shipped", "paid"]
    assert order_of(anyone, o2)["tracking_number"] == "T0"

    good = ship_csv(admin, f"{header}{o3.id},UPS,1Z3\n{o1.id},DHL,\n")
    assert good.status_code == 200, good.text
    assert [o["id"] for o in good.json()["shipped"]] == [o3.id, o1.id]
    first, third = order_of(anyone, o1), order_of(anyone, o3)
    assert (first["status"], first["carrier"], first["tracking_number"]) == ("shipped", "DHL", None)
    assert (third["status"], third["carrier"], third["tracking_number"]) == (
        "shipped",
        "UPS",
        "1Z3",
    )
    assert_reconciled(admin)


def test_shipping_out_of_turn_spends_a_unit_the_orders_ahead_waited_for(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 5})
    put_plan(admin, sale, TWO_THEN_ONE_A_DAY)
    first, second, third = buy_many(anyone, sale, 3)
    assert ship_dates(anyone, [first, second, third]) == [day(0), day(0), day(1)]

    response = ship_csv(admin, f"order_id,carrier,tracking_number\n{third.id},DHL,VIP\n")

    assert response.status_code == 200, response.text
    # the third order took one of the two units made on D: the second now waits for D+1
    assert ship_dates(anyone, [first, second]) == [day(0), day(1)]
    assert notifications(anyone, first.fan, "ship_date_changed") == []
    (moved,) = notifications(anyone, second.fan, "ship_date_changed")
    assert moved["data"] == {"order_id": second.id, "before": day(0), "after": day(1)}
    assert order_of(anyone, second)["history"][-1]["kind"] == "ship_date_changed"
    assert_reconciled(admin)


# -- refunds and cancellations ---------------------------------------------------------


def test_refunding_an_unshipped_order_puts_its_unit_back_and_moves_the_queue_up(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 3})
    put_plan(admin, sale, {"starts_on": day(0), "produced": 0, "rates": [rate(0, 1)]})
    orders = buy_many(anyone, sale, 3)
    assert ship_dates(anyone, orders) == [day(0), day(1), day(2)]
    assert launch_sku(anyone, sale)["launch_status"] == "sold_out"

    response = admin.post(f"/api/v1/orders/{orders[0].id}/refund", json={"reason": "asked"})

    assert response.status_code == 200, response.text
    refunded = response.json()
    assert refunded["status"] == "refunded"
    assert refunded["refunded_at"] is not None
    assert refunded["ship_date"] is None  # it will not ship (it kept day(0))
    assert order_of(anyone, orders[0])["ship_date"] is None
    assert "refunded" in [h["kind"] for h in refunded["history"]]
    sku = launch_sku(anyone, sale)
    assert (sku["available"], sku["sold_out"], sku["launch_status"]) == (1, False, "on_sale")
    assert ship_dates(anyone, orders[1:]) == [day(0), day(1)]
    assert [n["data"] for n in notifications(anyone, orders[2].fan, "ship_date_changed")] == [
        {"order_id": orders[2].id, "before": day(2), "after": day(1)}
    ]
    assert len(notifications(anyone, orders[0].fan, "order_refunded")) == 1

    again = admin.post(f"/api/v1/orders/{orders[0].id}/refund", json={"reason": "again"})
    assert again.status_code == 200, again.text
    assert (again.json()["status"], again.json()["refunded_at"]) == (
        "refunded",
        refunded["refunded_at"],
    )
    assert launch_sku(anyone, sale)["available"] == 1
    assert len(notifications(anyone, orders[0].fan, "order_refunded")) == 1
    assert buy(anyone, sale).order["ship_date"] == day(2)  # the unit is on sale again
    assert launch_sku(anyone, sale)["launch_status"] == "sold_out"
    assert_reconciled(admin)


def test_refunding_a_shipped_order_leaves_stock_alone(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 3})
    first, second = buy_many(anyone, sale, 2)
    shipped = admin.post(sale.shipments_url(), json={"count": 1, "carrier": "DHL"})
    assert [o["id"] for o in shipped.json()["shipped"]] == [first.id]
    before = admin.get(f"/api/v1/launches/{sale.launch_id}/stats").json()["skus"]["A"]

    response = admin.post(f"/api/v1/orders/{first.id}/refund", json={"reason": "broken"})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "refunded"
    assert response.json()["shipped_at"] is not None
    after = admin.get(f"/api/v1/launches/{sale.launch_id}/stats").json()["skus"]["A"]
    assert after == before
    assert launch_sku(anyone, sale)["available"] == 1
    assert order_of(anyone, second)["status"] == "paid"
    again = admin.post(f"/api/v1/orders/{first.id}/refund", json={"reason": "again"})
    assert again.status_code == 200
    assert admin.get(f"/api/v1/launches/{sale.launch_id}/stats").json()["skus"]["A"] == before
    assert error(admin.post("/api/v1/orders/ord_nobody/refund", json={"reason": "x"}))[:2] == (
        404,
        "not_found",
    )
    assert_reconciled(admin)


def test_a_fan_cancels_an_unshipped_order_but_not_a_shipped_one(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 2})
    mine, theirs = buy_many(anyone, sale, 2)

    stranger = anyone.post(f"/api/v1/orders/{mine.id}/cancel", headers=auth(theirs.fan))
    assert error(stranger) == (404, "not_found", None)
    assert order_of(anyone, mine)["status"] == "paid"

    response = anyone.post(f"/api/v1/orders/{mine.id}/cancel", headers=auth(mine.fan))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "refunded"
    assert response.json()["history"][-1]["kind"] == "refunded"
    assert launch_sku(anyone, sale)["available"] == 1
    again = anyone.post(f"/api/v1/orders/{mine.id}/cancel", headers=auth(mine.fan))
    assert (again.status_code, again.json()["status"]) == (200, "refunded")
    assert launch_sku(anyone, sale)["available"] == 1
    # the unit no longer counts against the fan's limit of one
    assert buy(anyone, sale, fan=mine.fan).order["status"] == "paid"

    shipping = admin.post(sale.shipments_url(), json={"count": 1, "carrier": "DHL"})
    assert [o["id"] for o in shipping.json()["shipped"]] == [theirs.id]
    late = anyone.post(f"/api/v1/orders/{theirs.id}/cancel", headers=auth(theirs.fan))
    assert error(late)[:2] == (409, "already_shipped")
    assert order_of(anyone, theirs)["status"] == "shipped"
    assert notifications(anyone, theirs.fan, "order_refunded") == []
    assert_reconciled(admin)


# -- the order list and its export -----------------------------------------------------


EXPORT_HEADER = [
    "order_id",
    "paid_at",
    "launch_id",
    "sku",
    "quantity",
    "total",
    "currency",
    "status",
    "ship_date",
    "fan_id",
    "email",
    "name",
    "shipped_at",
    "carrier",
    "tracking_number",
    "refunded_at",
    "refund_reason",
    "shipping_name",
    "shipping_line1",
    "shipping_line2",
    "shipping_postal_code",
    "shipping_city",
    "shipping_region",
    "shipping_country",
    "shipping_phone",
    "total_decimal",  # (added at the end: the columns before keep their place)
    "product_name",
    "sku_name",
    "refunded_decimal",
]


def list_all(admin: httpx.Client, limit: int, **filters: str) -> tuple[list[dict[str, Any]], int]:
    """Every order the filters match, following `next`; and how many pages it took."""
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit, **filters}
    pages = 0
    while True:
        response = admin.get("/api/v1/orders", params=params)
        assert response.status_code == 200, response.text
        pages += 1
        seen += response.json()["orders"]
        cursor = response.json()["next"]
        if cursor is None:
            return seen, pages
        assert pages < 50, "the cursor never ends"
        params["after"] = cursor


def export(admin: httpx.Client, **filters: str) -> list[list[str]]:
    response = admin.get("/api/v1/orders.csv", params=filters)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


def test_the_order_list_pages_through_every_order_once_and_filters(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 6, "B": 3})
    a_orders = buy_many(anyone, sale, 4)
    b_orders = buy_many(anyone, sale, 1, sku="B")
    last = buy(anyone, sale)
    paid_order = [b.id for b in [*a_orders, *b_orders, last]]
    ship = admin.post(sale.shipments_url(), json={"count": 1, "carrier": "DHL"})
    assert ship.status_code == 200, ship.text
    refund(admin, a_orders[1])

    everything, pages = list_all(admin, 4, launch_id=sale.launch_id)
    assert [o["id"] for o in everything] == paid_order
    assert pages == 2
    two_at_a_time, pages = list_all(admin, 2, launch_id=sale.launch_id)
    assert [o["id"] for o in two_at_a_time] == paid_order
    assert pages == 4  # the third page is full, so it has a `next`: to an empty page
    mine = next(o for o in everything if o["id"] == last.id)
    assert mine["email"].endswith("@fans.test")
    assert mine["name"] == mine["email"].split("@")[0]

    shipped, _ = list_all(admin, 10, launch_id=sale.launch_id, status="shipped")
    assert [o["id"] for o in shipped] == [a_orders[0].id]
    refunded, _ = list_all(admin, 10, launch_id=sale.launch_id, status="refunded")
    assert [o["id"] for o in refunded] == [a_orders[1].id]
    only_b, _ = list_all(admin, 10, launch_id=sale.launch_id, sku="B")
    assert [o["id"] for o in only_b] == [b_orders[0].id]
    bad_status = admin.get("/api/v1/orders", params={"status": "lost"})
    status, _, field = error(bad_status)
    assert (status, field) == (422, "status")
    bad_cursor = admin.get("/api/v1/orders", params={"after": "not-a-cursor"})
    assert error(bad_cursor) == (422, "invalid", "after")


def test_the_csv_export_has_one_row_per_order_and_defuses_formulas(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    sale = open_sale(admin, {"A": 5})
    plain = buy_many(anyone, sale, 2)
    sly_fan = anyone.post(
        "/api/v1/fans",
        json={
            "email": f"sly-{uuid.uuid4().hex[:8]}@fans.test",
            "name": '=HYPERLINK("x")',
            "shipping": shipping_address(),
        },
    )
    assert sly_fan.status_code == 201, sly_fan.text
    sly = buy(anyone, sale, fan=sly_fan.json())
    refund(admin, plain[0])
    shipped = ship_csv(admin, f"order_id,carrier,tracking_number\n{sly.id},+Carrier,@track\n")
    assert shipped.status_code == 200, shipped.text

    rows = export(admin, launch_id=sale.launch_id)

    assert rows[0] == EXPORT_HEADER
    body = [dict(zip(EXPORT_HEADER, row, strict=True)) for row in rows[1:]]
    assert [r["order_id"] for r in body] == [plain[0].id, plain[1].id, sly.id]
    assert [r["status"] for r in body] == ["refunded", "paid", "shipped"]
    assert [r["refund_reason"] for r in body] == ["asked", "", ""]
    assert body[2]["name"] == '\'=HYPERLINK("x")'
    assert (body[2]["carrier"], body[2]["tracking_number"]) == ("'+Carrier", "'@track")
    assert body[1]["name"] == body[1]["email"].split("@")[0]  # plain text is left alone
    assert (body[2]["sku"], body[2]["quantity"], body[2]["total"]) == ("A", "1", "2500")
    assert body[2]["total_decimal"] == "25.00"
    assert [r["refunded_decimal"] for r in body] == ["25.00", "0.00", "0.00"]
    assert body[2]["fan_id"] == sly_fan.json()["id"]
    only_refunded = export(admin, launch_id=sale.launch_id, status="refunded")
    assert [r[0] for r in only_refunded] == ["order_id", plain[0].id]
    nothing = export(admin, launch_id=sale.launch_id, sku="B")
    assert nothing == [EXPORT_HEADER]


# -- margin ----------------------------------------------------------------------------


def test_margin_counts_what_was_kept_and_what_shipped(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    # A sells at 25.00 and costs 17.00; B sells at 40.00 and costs 26.00.
    sale = open_sale(
        admin, {"A": 5, "B": 5}, prices={"A": (2500, 1700), "B": (4000, 2600)}, per_fan_limit=2
    )
    buy(anyone, sale, quantity=2)  # A: 2 units kept
    buy(anyone, sale)  # A: 1 unit kept
    cancelled = buy(anyone, sale)  # A: refunded before shipping, counts for nothing
    shipped_back = buy(anyone, sale, sku="B")  # B: shipped, then refunded: costs its unit
    kept_b = buy(anyone, sale, sku="B")  # B: shipped and kept
    refund(admin, cancelled)
    shipping = ship_csv(admin, f"order_id,carrier\n{shipped_back.id},DHL\n{kept_b.id},DHL\n")
    assert shipping.status_code == 200, shipping.text
    refund(admin, shipped_back)

    response = admin.get(f"/api/v1/launches/{sale.launch_id}/margin")

    assert response.status_code == 200, response.text
    margin = response.json()
    a, b = margin["skus"]["A"], margin["skus"]["B"]
    # A: 3 units * 25.00 = 75.00 revenue, 3 * 17.00 = 51.00 cost, 24.00 margin (32 %)
    assert (a["units"], a["revenue"], a["cost"], a["margin"]) == (3, 7500, 5100, 2400)
    assert (a["refunded_units"], a["margin_percent"], a["currency"]) == (1, 32.0, "EUR")
    # B: 1 unit kept, 40.00 revenue; 2 units shipped cost 52.00; -12.00 margin (-30 %)
    assert (b["units"], b["revenue"], b["cost"], b["margin"]) == (1, 4000, 5200, -1200)
    assert (b["refunded_units"], b["margin_percent"]) == (1, -30.0)
    # in all: 115.00 revenue, 103.00 cost, 12.00 margin = 10.43 % of revenue
    total = margin["totals"]["EUR"]
    assert (total["units"], total["revenue"], total["cost"], total["margin"]) == (
        4,
        11500,
        10300,
        1200,
    )
    assert total["margin_percent"] == 10.43
    assert_reconciled(admin)


# -- access and bad input --------------------------------------------------------------


ADMIN_ROUTES = [
    ("GET", "{plan}", None),
    ("PUT", "{plan}", TWO_THEN_ONE_A_DAY),
    ("POST", "{shipments}", {"count": 1, "carrier": "DHL"}),
    ("POST", "/api/v1/orders/{order}/refund", {"reason": "not yours to refund"}),
    ("GET", "/api/v1/orders", None),
    ("GET", "/api/v1/orders.csv", None),
    ("GET", "/api/v1/launches/{launch}/margin", None),
    ("GET", "/api/v1/reconciliation", None),
]


@pytest.fixture(scope="module")
def waiting(admin: httpx.Client, anyone: httpx.Client) -> tuple[Sale, Bought]:
    """A sale with one paid order waiting to ship, and no plan."""
    sale = open_sale(admin, {"A": 3})
    return sale, buy(anyone, sale)


def admin_call(
    client: httpx.Client, route: tuple[str, str, Any], sale: Sale, order: Bought, token: str | None
) -> httpx.Response:
    method, path, body = route
    url = path.format(
        plan=sale.plan_url(),
        shipments=sale.shipments_url(),
        order=order.id,
        launch=sale.launch_id,
    )
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if path == "/api/v1/shipments":
        return client.post(url, content=f"order_id,carrier\n{order.id},DHL\n", headers=headers)
    return client.request(method, url, json=body, headers=headers)


def nothing_changed(admin: httpx.Client, anyone: httpx.Client, sale: Sale, order: Bought) -> None:
    assert admin.get(sale.plan_url()).json()["plan"] is None
    seen = order_of(anyone, order)
    assert (seen["status"], seen["ship_date"], seen["refunded_at"]) == ("paid", None, None)


@pytest.mark.parametrize(
    "route", [*ADMIN_ROUTES, ("POST", "/api/v1/shipments", None)], ids=lambda r: f"{r[0]} {r[1]}"
)
def test_the_makers_routes_refuse_fans_and_strangers(
    admin: httpx.Client,
    anyone: httpx.Client,
    waiting: tuple[Sale, Bought],
    route: tuple[str, str, Any],
) -> None:
    sale, order = waiting
    assert error(admin_call(anyone, route, sale, order, None)) == (401, "unauthorized", None)
    as_fan = admin_call(anyone, route, sale, order, order.fan["token"])
    assert error(as_fan) == (403, "forbidden", None)
    nothing_changed(admin, anyone, sale, order)


BAD_PLANS = {
    "rates out of order": (
        {"starts_on": day(0), "rates": [rate(3, 1), rate(1, 1)]},
        "rates[1].starts_on",
    ),
    "two rates on one day": (
        {"starts_on": day(0), "rates": [rate(1, 1), rate(1, 2)]},
        "rates[1].starts_on",
    ),
    "rate before the start": ({"starts_on": day(2), "rates": [rate(1, 1)]}, "rates[0].starts_on"),
    "negative rate": ({"starts_on": day(0), "rates": [rate(1, -1)]}, "rates[0].units_per_day"),
    "negative produced": ({"starts_on": day(0), "produced": -2}, "produced"),
    "unknown field": ({"starts_on": day(0), "speed": 3}, "speed"),
    "not a date": ({"starts_on": "next tuesday"}, "starts_on"),
    "rate on a non-date": (
        {"starts_on": day(0), "rates": [{"starts_on": "soon", "units_per_day": 1}]},
        "rates[0].starts_on",
    ),
    "fractional units": (
        {"starts_on": day(0), "rates": [{"starts_on": day(1), "units_per_day": 1.5}]},
        "rates[0].units_per_day",
    ),
    "adjustment before the start": (
        {"starts_on": day(1), "adjustments": [{"on": day(0), "units": 1}]},
        "adjustments[0].on",
    ),
    "two adjustments on one day": (
        {
            "starts_on": day(0),
            "adjustments": [{"on": day(1), "units": 1}, {"on": day(1), "units": -1}],
        },
        "adjustments[1].on",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PLANS))
def test_a_bad_plan_is_refused_and_the_plan_stays(
    admin: httpx.Client, anyone: httpx.Client, case: str
) -> None:
    sale = open_sale(admin, {"A": 3})
    put_plan(admin, sale, TWO_THEN_ONE_A_DAY)
    orders = buy_many(anyone, sale, 3)
    before = admin.get(sale.plan_url()).json()
    body, field = BAD_PLANS[case]

    response = admin.put(sale.plan_url(), json=body)

    assert error(response) == (422, "invalid", field)
    assert admin.get(sale.plan_url()).json() == before
    assert ship_dates(anyone, orders) == [day(0), day(0), day(1)]
    assert all(notifications(anyone, b.fan, "ship_date_changed") == [] for b in orders)


def test_a_plan_for_an_unknown_product_or_sku_is_404(admin: httpx.Client) -> None:
    sale = open_sale(admin, {"A": 1})
    unknown_sku = admin.put(sale.plan_url("Z"), json=TWO_THEN_ONE_A_DAY)
    assert error(unknown_sku)[:2] == (404, "not_found")
    unknown_product = admin.put("/api/v1/products/prd_nothing/skus/A/plan", json=TWO_THEN_ONE_A_DAY)
    assert error(unknown_product)[:2] == (404, "not_found")


# -- the books balance -----------------------------------------------------------------


def test_reconciliation_is_clean_after_everything_above(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    """Last in the module, so it checks the record of every test above too; on its own it
    still sees a paid, a scheduled, a shipped and a refunded order."""
    sale = open_sale(admin, {"A": 5})
    unplanned = buy(anyone, sale, sku="A")
    put_plan(admin, sale, TWO_THEN_ONE_A_DAY, sku="A")
    shipped, refunded, cancelled, waiting = buy_many(anyone, sale, 4)
    ship_csv(admin, f"order_id,carrier\n{shipped.id},DHL\n")
    refund(admin, refunded)
    anyone.post(f"/api/v1/orders/{cancelled.id}/cancel", headers=auth(cancelled.fan))
    statuses_now = statuses(anyone, [unplanned, shipped, refunded, cancelled, waiting])
    assert statuses_now == ["scheduled", "shipped", "refunded", "refunded", "scheduled"]

    assert_reconciled(admin)
