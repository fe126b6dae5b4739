"""The v1 HTTP contract, row by row, as a fan or a maker relies on it, on both stores.

Every test runs against a real server process (`shared_server`: here one per store, the
embedded SQLite and PostgreSQL, so the module runs once on each) and creates its own
product, launch and fans, so tests stay independent of each other and of their order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import (
    SCALE_OUT,
    STORES,
    ServerProcess,
    claim,
    create_launch,
    error,
    iso,
    now,
    register,
    server_on,
)

pytest_plugins = ["tests.postgres"]
pytestmark = pytest.mark.scale_out_too  # its third server: the owner and two workers


@pytest.fixture(scope="module", params=[*STORES, SCALE_OUT])
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp(request.param) / "data"
    with server_on(request.param, data, request, {"SOLDOUT_RATE_LIMIT_FAN": "0"}) as server:
        yield server


CLAIMS_PATH = "/api/v1/launches/{launch_id}/claims"


# -- helpers -------------------------------------------------------------------------


def auth(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


def claimed(client: httpx.Client, launch_id: str, fan: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = claim(client, launch_id, fan["token"], **kw)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def pay(
    client: httpx.Client,
    claim_id: str,
    fan: dict[str, Any],
    token: str = "tok_ok",
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"method": "test", "token": token},
        headers={**auth(fan), "idempotency-key": key or uuid.uuid4().hex},
    )


def stats(admin: httpx.Client, launch_id: str) -> dict[str, Any]:
    response = admin.get(f"/api/v1/launches/{launch_id}/stats")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def launch_of(client: httpx.Client, launch_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/launches/{launch_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sku_of(launch: dict[str, Any], code: str) -> dict[str, Any]:
    found = [s for s in launch["skus"] if s["code"] == code]
    assert len(found) == 1, launch
    return found[0]


def claim_state(client: httpx.Client, claim_id: str, fan: dict[str, Any]) -> str:
    response = client.get(f"/api/v1/claims/{claim_id}", headers=auth(fan))
    assert response.status_code == 200, response.text
    state: str = response.json()["state"]
    return state


def patch(admin: httpx.Client, launch_id: str, **changes: Any) -> httpx.Response:
    return admin.patch(f"/api/v1/launches/{launch_id}", json=changes)


def at(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    return moment


# -- products and launches -----------------------------------------------------------


def test_admin_creates_a_product(admin: httpx.Client) -> None:
    body = {
        "name": "Model Two",
        "description": "a keyboard",
        "skus": [
            {"code": "M2-BLK", "name": "black", "price": 12900, "currency": "EUR", "cost": 7000},
            {"code": "M2-WHT", "name": "white", "price": 13900, "currency": "EUR"},
        ],
    }
    response = admin.post("/api/v1/products", json=body)
    assert response.status_code == 201, response.text
    product = response.json()
    assert product["id"].startswith("prd_")
    assert product["name"] == "Model Two"
    assert [(s["code"], s["price"], s["cost"], s["currency"]) for s in product["skus"]] == [
        ("M2-BLK", 12900, 7000, "EUR"),
        ("M2-WHT", 13900, None, "EUR"),  # (no cost given: not 0, which is free)
    ]
    fetched = admin.get(f"/api/v1/products/{product['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == product


def test_admin_creates_a_launch_with_status_and_available_per_sku(admin: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 5, "B": 2}, per_fan_limit=3)
    assert launch["id"].startswith("lch_")
    assert launch["status"] == "on_sale"
    assert launch["per_fan_limit"] == 3
    assert {s["code"]: (s["batch"], s["available"]) for s in launch["skus"]} == {
        "A": (5, 5),
        "B": (2, 2),
    }
    later = create_launch(admin, opens_in=3600)
    assert later["status"] == "scheduled"


def test_anyone_lists_and_reads_launches_with_server_time(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 4})
    listing = anyone.get("/api/v1/launches")
    assert listing.status_code == 200
    listed = [entry for entry in listing.json() if entry["id"] == launch["id"]]
    assert len(listed) == 1
    assert abs(at(listed[0]["server_time"]) - now()) < timedelta(seconds=30)
    one = launch_of(anyone, launch["id"])
    assert one["title"] == "test launch"
    assert one["status"] == "on_sale"
    assert sku_of(one, "A")["available"] == 4
    assert abs(at(one["server_time"]) - now()) < timedelta(seconds=30)


def test_an_unknown_launch_is_404(anyone: httpx.Client) -> None:
    assert error(anyone.get("/api/v1/launches/lch_nope")) == (404, "not_found", None)


def test_a_draft_is_not_listed_until_published(admin: httpx.Client, anyone: httpx.Client) -> None:
    draft = create_launch(admin, draft=True)
    assert draft["status"] == "draft"
    assert draft["id"] not in {entry["id"] for entry in anyone.get("/api/v1/launches").json()}
    fan = register(anyone)
    assert error(claim(anyone, draft["id"], fan["token"]))[:2] == (404, "not_found")

    published = patch(admin, draft["id"], published=True)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "on_sale"
    assert draft["id"] in {entry["id"] for entry in anyone.get("/api/v1/launches").json()}
    assert claim(anyone, draft["id"], fan["token"]).status_code == 201
    # and there is no way back to draft
    assert error(patch(admin, draft["id"], published=False)) == (422, "invalid", "published")


def test_patch_changes_times_and_title(admin: httpx.Client) -> None:
    launch = create_launch(admin, opens_in=3600)
    opens = now() + timedelta(hours=2)
    closes = now() + timedelta(hours=3)
    reservations = now() + timedelta(minutes=30)
    response = patch(
        admin,
        launch["id"],
        title="renamed",
        sale_opens_at=iso(opens),
        sale_closes_at=iso(closes),
        reservations_open_at=iso(reservations),
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["title"] == "renamed"
    assert at(changed["sale_opens_at"]) == opens
    assert at(changed["sale_closes_at"]) == closes
    assert at(changed["reservations_open_at"]) == reservations
    assert launch_of(admin, launch["id"])["title"] == "renamed"

    cleared = patch(admin, launch["id"], sale_closes_at=None)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["sale_closes_at"] is None
    assert at(cleared.json()["sale_opens_at"]) == opens  # untouched fields stay


def test_a_larger_batch_puts_more_units_on_sale(admin: httpx.Client, anyone: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 1})
    first, second = register(anyone), register(anyone)
    claimed(anyone, launch["id"], first)
    assert launch_of(anyone, launch["id"])["status"] == "sold_out"

    response = patch(admin, launch["id"], batch={"A": 3})
    assert response.status_code == 200, response.text
    assert sku_of(response.json(), "A")["batch"] == 3
    assert sku_of(response.json(), "A")["available"] == 2
    assert response.json()["status"] == "on_sale"
    claimed(anyone, launch["id"], second)
    assert stats(admin, launch["id"])["skus"]["A"] == {
        "batch": 3,
        "available": 1,
        "open": 1,
        "unoffered": 0,
        "set_aside": 0,
        "held": 2,
        "paid": 0,
    }


def test_a_smaller_batch_is_refused_and_changes_nothing(admin: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 5})
    before = stats(admin, launch["id"])["skus"]
    assert error(patch(admin, launch["id"], batch={"A": 4})) == (422, "invalid", "batch.A")
    assert stats(admin, launch["id"])["skus"] == before


def test_cancelling_a_launch_releases_held_claims_and_closes_the_sale(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 5})
    holder, payer, late = register(anyone), register(anyone), register(anyone)
    held = claimed(anyone, launch["id"], holder)
    paid = claimed(anyone, launch["id"], payer)
    assert pay(anyone, paid["id"], payer).status_code == 200

    response = patch(admin, launch["id"], cancel=True)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed"
    assert response.json()["cancelled_at"] is not None

    assert claim_state(anyone, held["id"], holder) == "cancelled"
    assert claim_state(anyone, paid["id"], payer) == "paid"
    after = stats(admin, launch["id"])
    assert after["skus"]["A"]["held"] == 0
    assert after["skus"]["A"]["paid"] == 1
    assert after["claims"].get("held", 0) == 0
    assert after["claims"]["cancelled"] == 1
    assert error(claim(anyone, launch["id"], late["token"]))[:2] == (409, "closed")
    assert error(pay(anyone, held["id"], holder))[:2] == (409, "claim_cancelled")
    # a cancelled launch stays cancelled
    assert error(patch(admin, launch["id"], title="again"))[:2] == (422, "cancelled")


def test_stats_are_for_the_admin_only_and_count_everything(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(
        admin,
        batch={"A": 10, "B": 4},
        opens_in=3600,
        reservations_open_at=iso(now() - timedelta(minutes=1)),
    )
    fans = [register(anyone) for _ in range(4)]
    for fan in fans[:2]:
        reserved = anyone.post(f"/api/v1/launches/{launch['id']}/reservations", headers=auth(fan))
        assert reserved.status_code == 201, reserved.text
    opened = patch(admin, launch["id"], sale_opens_at=iso(now()))
    assert opened.status_code == 200, opened.text
    codes = admin.post(
        f"/api/v1/launches/{launch['id']}/priority-codes", json={"sku": "B", "count": 2}
    )
    assert codes.status_code == 201, codes.text
    held = claimed(anyone, launch["id"], fans[0])
    paid = claimed(anyone, launch["id"], fans[1], sku="B")
    assert pay(anyone, paid["id"], fans[1]).status_code == 200
    cancelled = claimed(anyone, launch["id"], fans[2])
    assert anyone.delete(f"/api/v1/claims/{cancelled['id']}", headers=auth(fans[2])).is_success
    assert claim_state(anyone, held["id"], fans[0]) == "held"

    body = stats(admin, launch["id"])
    assert body["launch_id"] == launch["id"]
    assert body["status"] == "on_sale"
    assert body["skus"] == {
        "A": dict(batch=10, available=9, open=9, unoffered=0, set_aside=0, held=1, paid=0),
        "B": dict(batch=4, available=1, open=1, unoffered=0, set_aside=2, held=0, paid=1),
    }
    assert {state: n for state, n in body["claims"].items() if n} == {
        "held": 1,
        "paid": 1,
        "cancelled": 1,
    }
    assert body["reservations"] == 2
    assert "server_time" in body

    stats_path = f"/api/v1/launches/{launch['id']}/stats"
    assert error(anyone.get(stats_path))[:2] == (401, "unauthorized")
    assert error(anyone.get(stats_path, headers=auth(fans[3])))[:2] == (403, "forbidden")


# -- fans and reservations -----------------------------------------------------------


def test_a_fan_registers_and_gets_a_working_token(anyone: httpx.Client) -> None:
    name = uuid.uuid4().hex[:10]
    response = anyone.post("/api/v1/fans", json={"email": f"{name}@fans.test", "name": name})
    assert response.status_code == 201, response.text
    fan = response.json()
    assert set(fan) == {"id", "token", "token_expires_at", "referral_code"}
    assert fan["id"].startswith("fan_")
    lasts = datetime.fromisoformat(fan["token_expires_at"]) - now()
    assert timedelta(days=29) < lasts <= timedelta(days=30)  # then POST /me/token renews it
    assert fan["referral_code"]
    mine = anyone.get("/api/v1/me/orders", headers=auth(fan))
    assert mine.status_code == 200
    assert mine.json() == []


def test_an_email_registers_once_whatever_its_case(anyone: httpx.Client) -> None:
    name = uuid.uuid4().hex[:10]
    first = anyone.post("/api/v1/fans", json={"email": f"{name}@fans.test", "name": "one"})
    assert first.status_code == 201
    again = anyone.post("/api/v1/fans", json={"email": f"{name.upper()}@Fans.Test", "name": "two"})
    assert error(again) == (409, "email_taken", "email")


def test_a_referral_code_of_another_fan_is_accepted(anyone: httpx.Client) -> None:
    referrer = register(anyone)
    name = uuid.uuid4().hex[:10]
    response = anyone.post(
        "/api/v1/fans",
        json={
            "email": f"{name}@fans.test",
            "name": name,
            "referral_code": referrer["referral_code"],
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["referral_code"] != referrer["referral_code"]


def test_an_unknown_referral_code_is_refused(anyone: httpx.Client) -> None:
    name = uuid.uuid4().hex[:10]
    body = {"email": f"{name}@fans.test", "name": name, "referral_code": "NOSUCHCODE"}
    assert error(anyone.post("/api/v1/fans", json=body)) == (422, "invalid", "referral_code")
    # nothing was registered: the same e-mail is still free
    del body["referral_code"]
    assert anyone.post("/api/v1/fans", json=body).status_code == 201


def test_a_reservation_is_created_once(admin: httpx.Client, anyone: httpx.Client) -> None:
    launch = create_launch(
        admin, opens_in=3600, reservations_open_at=iso(now() - timedelta(minutes=1))
    )
    assert launch["status"] == "reservations_open"
    fan = register(anyone)
    path = f"/api/v1/launches/{launch['id']}/reservations"
    first = anyone.post(path, headers=auth(fan))
    assert first.status_code == 201, first.text
    assert first.json()["launch_id"] == launch["id"]
    assert first.json()["fan_id"] == fan["id"]
    again = anyone.post(path, headers=auth(fan))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert launch_of(anyone, launch["id"])["reservations"] == 1


def test_reservations_are_taken_only_while_they_are_open(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    fan = register(anyone)
    not_yet = create_launch(
        admin, opens_in=3600, reservations_open_at=iso(now() + timedelta(minutes=30))
    )
    response = anyone.post(f"/api/v1/launches/{not_yet['id']}/reservations", headers=auth(fan))
    assert error(response)[:2] == (409, "reservations_not_open")
    on_sale = create_launch(admin)
    response = anyone.post(f"/api/v1/launches/{on_sale['id']}/reservations", headers=auth(fan))
    assert error(response)[:2] == (409, "reservations_closed")


def test_a_reservation_required_sale_is_for_fans_who_reserved(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(
        admin,
        batch={"A": 5},
        opens_in=3600,
        reservation_required=True,
        reservations_open_at=iso(now() - timedelta(minutes=1)),
    )
    reserved, walk_in = register(anyone), register(anyone)
    response = anyone.post(f"/api/v1/launches/{launch['id']}/reservations", headers=auth(reserved))
    assert response.status_code == 201, response.text
    assert error(claim(anyone, launch["id"], reserved["token"]))[:2] == (409, "not_open")

    opened = patch(admin, launch["id"], sale_opens_at=iso(now()))
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "on_sale"

    refused = claim(anyone, launch["id"], walk_in["token"])
    assert error(refused)[:2] == (403, "reservation_required")
    assert claim(anyone, launch["id"], reserved["token"]).status_code == 201
    # reservations close when the sale opens
    late = anyone.post(f"/api/v1/launches/{launch['id']}/reservations", headers=auth(walk_in))
    assert error(late)[:2] == (409, "reservations_closed")
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 1


# -- claims --------------------------------------------------------------------------


def test_a_claim_holds_units_for_the_payment_window(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(
        admin, batch={"A": 5, "B": 5}, per_fan_limit=2, payment_window_seconds=60
    )
    fan = register(anyone)
    response = claim(anyone, launch["id"], fan["token"], sku="B", quantity=2)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("clm_")
    assert body["launch_id"] == launch["id"]
    assert (body["sku"], body["quantity"], body["unit_price"]) == ("B", 2, 1001)
    assert (body["total"], body["currency"]) == (2002, "EUR")
    assert at(body["expires_at"]) - at(body["created_at"]) == timedelta(seconds=60)
    assert claim_state(anyone, body["id"], fan) == "held"
    assert sku_of(launch_of(anyone, launch["id"]), "B")["available"] == 3


def test_a_claim_replayed_with_its_key_answers_the_same_claim(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 5})
    fan = register(anyone)
    first = claim(anyone, launch["id"], fan["token"], key="retry-me")
    assert first.status_code == 201, first.text
    again = claim(anyone, launch["id"], fan["token"], key="retry-me")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 1


def test_a_key_names_one_request_to_one_launch(admin: httpx.Client, anyone: httpx.Client) -> None:
    """The same `Idempotency-Key` on another launch's claims is another request there
    (one process and workers alike: each launch keeps its own keys); on its own launch it
    still replays."""
    first_launch = create_launch(admin, batch={"A": 5})
    other_launch = create_launch(admin, batch={"A": 5})
    fan = register(anyone)
    first = claim(anyone, first_launch["id"], fan["token"], key="same-key")
    other = claim(anyone, other_launch["id"], fan["token"], key="same-key")
    assert (first.status_code, other.status_code) == (201, 201), other.text
    assert other.json()["id"] != first.json()["id"]
    assert other.json()["launch_id"] == other_launch["id"]
    again = claim(anyone, first_launch["id"], fan["token"], key="same-key")
    assert (again.status_code, again.json()) == (200, first.json())
    for launch in (first_launch, other_launch):
        assert stats(admin, launch["id"])["skus"]["A"]["held"] == 1
    mismatches = admin.get("/api/v1/reconciliation").json()["mismatches"]
    assert [m for m in mismatches if m["subject"] == fan["id"]] == []


def test_a_key_reused_for_a_different_request_is_refused(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 5, "B": 5}, per_fan_limit=2)
    fan = register(anyone)
    assert claim(anyone, launch["id"], fan["token"], key="k1").status_code == 201
    for different in ({"sku": "B"}, {"quantity": 2}):
        response = claim(anyone, launch["id"], fan["token"], key="k1", **different)
        assert error(response) == (409, "idempotency_key_reused", "Idempotency-Key")
    assert stats(admin, launch["id"])["claims"] == {
        "held": 1,
        "paid": 0,
        "expired": 0,
        "cancelled": 0,
    }


def test_idempotency_keys_belong_to_one_fan(admin: httpx.Client, anyone: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 5})
    one, two = register(anyone), register(anyone)
    first = claimed(anyone, launch["id"], one, key="same-key")
    second = claimed(anyone, launch["id"], two, key="same-key")
    assert first["id"] != second["id"]
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 2


def test_a_claim_before_the_sale_opens_is_not_open(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, opens_in=3600)
    fan = register(anyone)
    assert error(claim(anyone, launch["id"], fan["token"]))[:2] == (409, "not_open")
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 0


def test_a_claim_after_the_sale_closes_is_closed(admin: httpx.Client, anyone: httpx.Client) -> None:
    launch = create_launch(admin, opens_in=-60)
    fan = register(anyone)
    response = patch(admin, launch["id"], sale_closes_at=iso(now() - timedelta(seconds=1)))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed"
    assert error(claim(anyone, launch["id"], fan["token"]))[:2] == (409, "closed")


def test_a_claim_when_nothing_is_left_is_sold_out(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 1})
    first, second = register(anyone), register(anyone)
    claimed(anyone, launch["id"], first)
    assert error(claim(anyone, launch["id"], second["token"])) == (409, "sold_out", "sku")
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 1


def test_a_second_claim_over_the_per_fan_limit_is_refused(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 5, "B": 5}, per_fan_limit=1)
    fan = register(anyone)
    claimed(anyone, launch["id"], fan)
    assert error(claim(anyone, launch["id"], fan["token"], sku="B"))[:2] == (409, "limit_reached")
    assert stats(admin, launch["id"])["claims"] == {
        "held": 1,
        "paid": 0,
        "expired": 0,
        "cancelled": 0,
    }


def test_a_quantity_above_what_is_left_is_refused(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 2}, per_fan_limit=5)
    fan = register(anyone)
    response = claim(anyone, launch["id"], fan["token"], quantity=3)
    assert error(response) == (409, "insufficient_stock", "quantity")
    assert claim(anyone, launch["id"], fan["token"], quantity=2).status_code == 201


def test_a_sold_out_launch_goes_back_on_sale_when_a_claim_is_released(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 1})
    first, second = register(anyone), register(anyone)
    held = claimed(anyone, launch["id"], first)
    assert launch_of(anyone, launch["id"])["status"] == "sold_out"
    assert sku_of(launch_of(anyone, launch["id"]), "A")["sold_out"] is True

    assert anyone.delete(f"/api/v1/claims/{held['id']}", headers=auth(first)).status_code == 200
    assert launch_of(anyone, launch["id"])["status"] == "on_sale"
    claimed(anyone, launch["id"], second)
    assert launch_of(anyone, launch["id"])["status"] == "sold_out"


# -- payment, release, orders --------------------------------------------------------


def test_paying_a_claim_makes_an_order(admin: httpx.Client, anyone: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 3})
    fan = register(anyone)
    held = claimed(anyone, launch["id"], fan)
    response = pay(anyone, held["id"], fan, key="pay-1")
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["id"].startswith("ord_")
    assert (order["claim_id"], order["launch_id"], order["sku"]) == (held["id"], launch["id"], "A")
    assert (order["quantity"], order["total"], order["currency"]) == (1, 1000, "EUR")
    assert order["status"] == "paid"
    assert order["payment_method"] == "test"
    assert "ship_date" in order

    assert claim_state(anyone, held["id"], fan) == "paid"
    status = anyone.get(f"/api/v1/claims/{held['id']}", headers=auth(fan)).json()
    assert status["order_id"] == order["id"]
    seen = anyone.get(f"/api/v1/orders/{order['id']}", headers=auth(fan)).json()
    assert [h["kind"] for h in seen.pop("history")] == ["paid"]
    assert seen == order
    assert anyone.get("/api/v1/me/orders", headers=auth(fan)).json() == [order]
    sku = stats(admin, launch["id"])["skus"]["A"]
    assert (sku["held"], sku["paid"], sku["available"]) == (0, 1, 2)


def test_a_payment_replayed_with_its_key_answers_the_same_order(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 3})
    fan = register(anyone)
    held = claimed(anyone, launch["id"], fan)
    first = pay(anyone, held["id"], fan, key="pay-once")
    assert first.status_code == 200, first.text
    again = pay(anyone, held["id"], fan, key="pay-once")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    other_key = pay(anyone, held["id"], fan, key="pay-twice")
    assert error(other_key)[:2] == (409, "already_paid")
    assert first.json()["id"] in other_key.json()["error"]["message"]  # where to look
    assert len(anyone.get("/api/v1/me/orders", headers=auth(fan)).json()) == 1
    assert stats(admin, launch["id"])["skus"]["A"]["paid"] == 1


def test_a_declined_payment_keeps_the_claim_held(admin: httpx.Client, anyone: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 3})
    fan = register(anyone)
    held = claimed(anyone, launch["id"], fan)
    declined = pay(anyone, held["id"], fan, token="tok_decline")
    assert error(declined)[:2] == (402, "payment_declined")
    assert claim_state(anyone, held["id"], fan) == "held"
    assert anyone.get("/api/v1/me/orders", headers=auth(fan)).json() == []
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 1
    # the fan can try another card
    assert pay(anyone, held["id"], fan).status_code == 200


def test_releasing_a_claim_puts_the_unit_back_on_sale(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 1})
    fan = register(anyone)
    held = claimed(anyone, launch["id"], fan)
    response = anyone.delete(f"/api/v1/claims/{held['id']}", headers=auth(fan))
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"
    assert response.json()["id"] == held["id"]
    assert sku_of(launch_of(anyone, launch["id"]), "A")["available"] == 1
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 0

    again = anyone.delete(f"/api/v1/claims/{held['id']}", headers=auth(fan))
    assert again.status_code == 200, again.text
    assert again.json()["state"] == "cancelled"
    assert stats(admin, launch["id"])["skus"]["A"]["available"] == 1

    assert error(pay(anyone, held["id"], fan))[:2] == (409, "claim_cancelled")
    # the released unit counts no more against the fan's limit
    claimed(anyone, launch["id"], fan)


def test_a_paid_claim_cannot_be_released(admin: httpx.Client, anyone: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 2})
    fan = register(anyone)
    held = claimed(anyone, launch["id"], fan)
    assert pay(anyone, held["id"], fan).status_code == 200
    response = anyone.delete(f"/api/v1/claims/{held['id']}", headers=auth(fan))
    assert error(response)[:2] == (409, "already_paid")
    assert stats(admin, launch["id"])["skus"]["A"]["paid"] == 1


def test_a_fan_never_sees_or_acts_on_another_fans_claim_or_order(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 5})
    owner, other = register(anyone), register(anyone)
    held = claimed(anyone, launch["id"], owner)
    owner_paid_launch = create_launch(admin, batch={"A": 5})
    to_pay = claimed(anyone, owner_paid_launch["id"], owner)
    paid = pay(anyone, to_pay["id"], owner)
    assert paid.status_code == 200, paid.text
    order = paid.json()

    not_found = (404, "not_found", None)
    assert error(anyone.get(f"/api/v1/claims/{held['id']}", headers=auth(other))) == not_found
    assert error(anyone.delete(f"/api/v1/claims/{held['id']}", headers=auth(other))) == not_found
    assert error(pay(anyone, held["id"], other)) == not_found
    assert error(anyone.get(f"/api/v1/orders/{order['id']}", headers=auth(other))) == not_found
    assert anyone.get("/api/v1/me/orders", headers=auth(other)).json() == []
    # a missing claim answers exactly the same
    assert error(anyone.get("/api/v1/claims/clm_missing", headers=auth(other))) == not_found

    assert claim_state(anyone, held["id"], owner) == "held"
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 1
    assert anyone.get("/api/v1/me/orders", headers=auth(owner)).json() == [order]


# -- priority codes ------------------------------------------------------------------


def test_priority_codes_set_units_aside(admin: httpx.Client, anyone: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 5})
    response = admin.post(
        f"/api/v1/launches/{launch['id']}/priority-codes", json={"sku": "A", "count": 3}
    )
    assert response.status_code == 201, response.text
    codes = response.json()["codes"]
    assert len(codes) == 3
    assert len({c["code"] for c in codes}) == 3
    assert all(c["sku"] == "A" and c["redeemed"] is False for c in codes)
    sku = stats(admin, launch["id"])["skus"]["A"]
    assert (sku["set_aside"], sku["available"]) == (3, 2)
    assert sku_of(launch_of(anyone, launch["id"]), "A")["available"] == 2

    fan = register(anyone)
    path = f"/api/v1/launches/{launch['id']}/priority-codes"
    assert error(anyone.post(path, json={"sku": "A", "count": 1}, headers=auth(fan)))[0] == 403


def test_a_priority_code_buys_a_unit_when_the_open_pool_is_sold_out(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 2})
    issued = admin.post(
        f"/api/v1/launches/{launch['id']}/priority-codes", json={"sku": "A", "count": 1}
    )
    assert issued.status_code == 201, issued.text
    code = issued.json()["codes"][0]["code"]
    early, holder, latecomer = register(anyone), register(anyone), register(anyone)
    claimed(anyone, launch["id"], early)
    assert error(claim(anyone, launch["id"], holder["token"]))[:2] == (409, "sold_out")

    with_code = claim(anyone, launch["id"], holder["token"], priority_code=code)
    assert with_code.status_code == 201, with_code.text
    assert with_code.json()["priority_code"] == code
    sku = stats(admin, launch["id"])["skus"]["A"]
    assert (sku["set_aside"], sku["held"], sku["available"]) == (0, 2, 0)

    spent = claim(anyone, launch["id"], latecomer["token"], priority_code=code)
    assert error(spent) == (409, "code_spent", "priority_code")
    unknown = claim(anyone, launch["id"], latecomer["token"], priority_code="F-NOPE-NOPE-NOPE")
    assert error(unknown) == (422, "invalid_code", "priority_code")
    listed = admin.get(f"/api/v1/launches/{launch['id']}/priority-codes").json()["codes"]
    assert [(c["code"], c["redeemed"]) for c in listed] == [(code, True)]
    assert stats(admin, launch["id"])["skus"]["A"]["held"] == 2


# -- documentation and health --------------------------------------------------------


def test_openapi_lists_the_claims_path(anyone: httpx.Client) -> None:
    response = anyone.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "post" in paths[CLAIMS_PATH]
    assert "post" in paths["/api/v1/claims/{claim_id}/payment"]


def test_docs_are_served_from_local_assets_only(
    anyone: httpx.Client, shared_server: ServerProcess
) -> None:
    response = anyone.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "swagger" in html.lower()
    here = urlsplit(shared_server.base_url).netloc
    for url in re.findall(r"""(?i)https?://[^\s"'<>]+""", html):
        assert urlsplit(url).netloc == here, url
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert assets, html
    for asset in assets:
        loaded = anyone.get(asset)
        assert loaded.status_code == 200, asset


def test_healthz(anyone: httpx.Client) -> None:
    response = anyone.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
