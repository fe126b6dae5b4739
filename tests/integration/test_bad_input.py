"""Bad requests: each is refused with a 4xx, a machine-readable code and the field at fault
where there is one, and each leaves the state exactly as it was.

Every test runs against the session's server (`shared_server`) on its own product, launch
and fans; "the state" is what the API shows of them before and after the bad request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support import (
    ADMIN_TOKEN,
    claim,
    create_launch,
    error,
    iso,
    now,
    register,
)

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
# The claims endpoint's refusals run on the scale-out backend too (a worker answers
# them); the other routes' are forwarded to the owner, which is one process's code.
SCALE_OUT_TOO = pytest.mark.scale_out_too

MAX_CLAIM_BODY = 4096
MAX_BODY = 65536


# -- helpers -------------------------------------------------------------------------


@dataclass
class Sale:
    """A launch on sale (SKUs A and B, 5 each, 2 per fan), a fan holding one A, another fan
    with nothing, and one unspent priority code for A."""

    launch_id: str
    fan: dict[str, Any]
    other: dict[str, Any]
    held_id: str
    code: str


@pytest.fixture
def sale(admin: httpx.Client, anyone: httpx.Client) -> Sale:
    launch = create_launch(admin, batch={"A": 5, "B": 5}, per_fan_limit=2)
    fan, other = register(anyone), register(anyone)
    held = claim(anyone, launch["id"], fan["token"])
    assert held.status_code == 201, held.text
    codes = admin.post(
        f"/api/v1/launches/{launch['id']}/priority-codes", json={"sku": "A", "count": 1}
    )
    assert codes.status_code == 201, codes.text
    return Sale(launch["id"], fan, other, held.json()["id"], codes.json()["codes"][0]["code"])


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def key() -> dict[str, str]:
    return {"idempotency-key": uuid.uuid4().hex}


def without_time(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: without_time(v) for k, v in body.items() if k != "server_time"}
    if isinstance(body, list):
        return [without_time(v) for v in body]
    return body


def state_of(admin: httpx.Client, sale: Sale) -> dict[str, Any]:
    """Everything the API shows about the sale: counters, the launch, codes, both fans'
    claims and orders."""
    base = f"/api/v1/launches/{sale.launch_id}"
    fan, other = auth(sale.fan["token"]), auth(sale.other["token"])
    answers = {
        "stats": admin.get(f"{base}/stats"),
        "launch": admin.get(base),
        "codes": admin.get(f"{base}/priority-codes"),
        "held": admin.get(f"/api/v1/claims/{sale.held_id}", headers=fan),
        "fan_orders": admin.get("/api/v1/me/orders", headers=fan),
        "other_orders": admin.get("/api/v1/me/orders", headers=other),
    }
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
    return {name: without_time(response.json()) for name, response in answers.items()}


def products(admin: httpx.Client) -> list[dict[str, Any]]:
    response = admin.get("/api/v1/products")
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    return listed


def launch_ids(client: httpx.Client) -> set[str]:
    response = client.get("/api/v1/launches")
    assert response.status_code == 200
    return {launch["id"] for launch in response.json()}


def post_claim(
    client: httpx.Client, sale: Sale, body: Any, token: str | None = None, **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/api/v1/launches/{sale.launch_id}/claims",
        content=content,
        headers={**auth(token or sale.other["token"]), **key(), **headers},
    )


def pay_body(client: httpx.Client, sale: Sale, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/api/v1/claims/{sale.held_id}/payment",
        content=content,
        headers={**auth(sale.fan["token"]), **key(), "content-type": "application/json"},
    )


def sku(code: str = "A", **changes: Any) -> dict[str, Any]:
    return {"code": code, "name": f"SKU {code}", "price": 1000, "currency": "EUR", **changes}


def sku_id(skus: list[dict[str, Any]]) -> str:
    """A short test id: each SKU's code and what differs from `sku()`'s defaults."""
    shown = []
    for given in skus:
        usual = sku(given["code"])
        diff = {k: v for k, v in given.items() if usual.get(k, object()) != v}
        shown.append(given["code"] + (json.dumps(diff) if diff else ""))
    return ",".join(shown) or "[]"


def product_id(admin: httpx.Client) -> str:
    response = admin.post("/api/v1/products", json={"name": "P", "skus": [sku("A"), sku("B")]})
    assert response.status_code == 201, response.text
    pid: str = response.json()["id"]
    return pid


def launch_body(pid: str, **changes: Any) -> dict[str, Any]:
    return {
        "product_id": pid,
        "title": "bad input",
        "sale_opens_at": iso(now() + timedelta(hours=1)),
        "batch": {"A": 5},
        **changes,
    }


def email_is_free(client: httpx.Client, email: str) -> bool:
    response = client.post("/api/v1/fans", json={"email": email, "name": "probe"})
    return response.status_code == 201


# -- malformed JSON ------------------------------------------------------------------

MALFORMED = [b"", b"{", b"not json", b'{"sku": "A",}', b"{'sku': 'A'}", b"\xff\xfe{}"]


@SCALE_OUT_TOO
@pytest.mark.parametrize("body", MALFORMED, ids=repr)
def test_malformed_json_on_the_claims_endpoint(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, body: bytes
) -> None:
    before = state_of(admin, sale)
    response = post_claim(anyone, sale, body, **{"content-type": "application/json"})
    assert error(response) == (400, "malformed_json", None)
    assert state_of(admin, sale) == before


@pytest.mark.parametrize("body", MALFORMED[1:], ids=repr)
def test_malformed_json_on_framework_endpoints(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, body: bytes
) -> None:
    before, listed = state_of(admin, sale), products(admin)
    json_type = {"content-type": "application/json"}
    answers = [
        anyone.post("/api/v1/fans", content=body, headers=json_type),
        admin.post("/api/v1/products", content=body, headers=json_type),
        admin.patch(f"/api/v1/launches/{sale.launch_id}", content=body, headers=json_type),
        pay_body(anyone, sale, body),
    ]
    for response in answers:
        assert error(response) == (400, "malformed_json", None), response.request.url
    assert state_of(admin, sale) == before
    assert products(admin) == listed


def test_json_sent_as_a_form_is_refused_with_what_to_do(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale
) -> None:
    """`curl -d` labels its body a form unless told otherwise: say so, change nothing."""
    before, listed = state_of(admin, sale), products(admin)
    form = {"content-type": "application/x-www-form-urlencoded"}
    body = json.dumps({"name": "Model Two", "skus": []})
    for response in (
        admin.post("/api/v1/products", content=body, headers=form),
        anyone.post("/api/v1/fans", content='{"email": "f@fans.test", "name": "F"}', headers=form),
    ):
        assert error(response) == (415, "unsupported_media_type", None)
        assert "Content-Type: application/json" in response.json()["error"]["message"]
    assert state_of(admin, sale) == before
    assert products(admin) == listed


# -- wrong types and unknown fields --------------------------------------------------


@SCALE_OUT_TOO
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "A", "quantity": "1"}, "quantity"),
        ({"sku": "A", "quantity": True}, "quantity"),
        ({"sku": "A", "quantity": 1.0}, "quantity"),
        ({"sku": "A", "quantity": None}, "quantity"),
        ({"sku": "A", "quantity": 0}, "quantity"),
        ({"sku": "A", "quantity": -1}, "quantity"),
        ({"sku": 1}, "sku"),
        ({"sku": ""}, "sku"),
        ({}, "sku"),
        ({"sku": "A", "priority_code": 7}, "priority_code"),
        ({"sku": "A", "colour": "red"}, "colour"),
        ({"sku": "A", "quantity": 1, "price": 1}, "price"),
        (["A"], None),
        ("A", None),
    ],
    ids=lambda v: json.dumps(v) if not isinstance(v, str) else v,
)
def test_a_badly_typed_claim_is_refused(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, body: Any, field: str | None
) -> None:
    before = state_of(admin, sale)
    assert error(post_claim(anyone, sale, body)) == (422, "invalid", field)
    assert state_of(admin, sale) == before


@SCALE_OUT_TOO
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "Z"}, "sku"),  # the product has no such SKU
        ({"sku": "a"}, "sku"),  # codes are case-sensitive
    ],
)
def test_a_claim_for_something_the_launch_does_not_sell_is_refused(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, body: Any, field: str
) -> None:
    before = state_of(admin, sale)
    assert error(post_claim(anyone, sale, body)) == (422, "invalid", field)
    assert state_of(admin, sale) == before


@SCALE_OUT_TOO
def test_a_claim_above_the_per_fan_limit_is_refused(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale
) -> None:
    before = state_of(admin, sale)
    body = {"sku": "A", "quantity": 3}  # the per-fan limit is 2
    assert error(post_claim(anyone, sale, body)) == (409, "limit_reached", "quantity")
    assert state_of(admin, sale) == before


@SCALE_OUT_TOO
def test_a_claim_for_a_sku_outside_the_launch_batch_is_refused(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 3})  # the product also has B
    fan = register(anyone)
    response = claim(anyone, launch["id"], fan["token"], sku="B")
    assert error(response) == (422, "invalid", "sku")
    assert admin.get(f"/api/v1/launches/{launch['id']}/stats").json()["claims"] == {
        "held": 0,
        "paid": 0,
        "expired": 0,
        "cancelled": 0,
    }


@SCALE_OUT_TOO
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"priority_code": "F-NOPE-NOPE-NOPE"}, "priority_code"),
        ({"sku": "B"}, "sku"),  # the code is for A
        ({"quantity": 2}, "quantity"),  # a code buys exactly one
    ],
)
def test_a_misused_priority_code_is_refused_and_stays_unspent(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, changes: dict[str, Any], field: str
) -> None:
    before = state_of(admin, sale)
    body = {"sku": "A", "priority_code": sale.code, **changes}
    status, _, at_fault = error(post_claim(anyone, sale, body))
    assert (status, at_fault) == (422, field)
    assert state_of(admin, sale) == before
    assert before["codes"]["codes"][0]["redeemed"] is False


@pytest.mark.parametrize(
    ("skus", "field"),
    [
        ([sku(price="12")], "skus[0].price"),
        ([sku(price=12.5)], "skus[0].price"),
        ([sku(price=True)], "skus[0].price"),
        ([sku(price=-1)], "skus[0].price"),
        ([sku(cost="1")], "skus[0].cost"),
        ([sku("A"), sku("B", price=None)], "skus[1].price"),
        ([sku(colour="red")], "skus[0].colour"),
        ([sku("A"), sku("A")], "skus[1].code"),
        ([sku("A"), sku("B"), sku("B")], "skus[2].code"),
        ([sku("has space")], "skus[0].code"),
        ([sku(currency="eur")], "skus[0].currency"),
        ([sku(currency="EURO")], "skus[0].currency"),
        ([sku(currency="E1R")], "skus[0].currency"),
        ([sku(currency="")], "skus[0].currency"),
        ([sku(price=10**13)], "skus[0].price"),
        ([sku(cost=10**13)], "skus[0].cost"),
        ([], "skus"),
        ("A", "skus"),
    ],
    ids=lambda v: sku_id(v) if isinstance(v, list) else json.dumps(v),
)
def test_a_bad_product_is_refused(admin: httpx.Client, skus: Any, field: str) -> None:
    before = products(admin)
    response = admin.post("/api/v1/products", json={"name": "Bad", "skus": skus})
    assert error(response) == (422, "invalid", field)
    assert products(admin) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5, "skus": [sku()]}, "name"),
        ({"name": "", "skus": [sku()]}, "name"),
        ({"skus": [sku()]}, "name"),
        ({"name": "P", "skus": [sku()], "vendor": "x"}, "vendor"),
    ],
)
def test_a_bad_product_field_is_refused(
    admin: httpx.Client, body: dict[str, Any], field: str
) -> None:
    before = products(admin)
    assert error(admin.post("/api/v1/products", json=body)) == (422, "invalid", field)
    assert products(admin) == before


NAIVE = "2030-01-01T10:00:00"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"per_fan_limit": "x"}, "per_fan_limit"),
        ({"per_fan_limit": True}, "per_fan_limit"),
        ({"per_fan_limit": 0}, "per_fan_limit"),
        ({"per_fan_limit": 1001}, "per_fan_limit"),
        ({"payment_window_seconds": "900"}, "payment_window_seconds"),
        ({"payment_window_seconds": 9}, "payment_window_seconds"),
        ({"reservation_required": "yes"}, "reservation_required"),
        ({"draft": 1}, "draft"),
        ({"mode": "auction"}, "mode"),
        ({"mode": "draw", "waiting_room_rate": 5.0}, "waiting_room_rate"),
        ({"registered_before": "2026-01-01T00:00:00Z"}, "registered_before"),
        ({"pow_difficulty": 40}, "pow_difficulty"),
        ({"duplicate_rule": "shrug"}, "duplicate_rule"),
        ({"title": ""}, "title"),
        ({"batch": {"A": "5"}}, "batch.A"),
        ({"batch": {"A": 1.5}}, "batch.A"),
        ({"batch": {"A": -1}}, "batch.A"),
        ({"batch": {"A": 10_000_001}}, "batch.A"),
        ({"batch": {"Z": 5}}, "batch.Z"),
        ({"batch": {"A": 5, "Z": 5}}, "batch.Z"),
        ({"batch": {}}, "batch"),
        ({"sale_opens_at": NAIVE}, "sale_opens_at"),
        ({"sale_opens_at": "2030-01-01"}, "sale_opens_at"),
        ({"sale_opens_at": "tomorrow"}, "sale_opens_at"),
        ({"reservations_open_at": NAIVE}, "reservations_open_at"),
        ({"sale_closes_at": NAIVE}, "sale_closes_at"),
        ({"colour": "red"}, "colour"),
    ],
    ids=lambda v: json.dumps(v),
)
def test_a_bad_launch_is_refused(
    admin: httpx.Client, anyone: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    pid = product_id(admin)
    before = launch_ids(anyone)
    response = admin.post("/api/v1/launches", json=launch_body(pid, **changes))
    assert error(response) == (422, "invalid", field)
    assert launch_ids(anyone) == before
    # the same launch without the fault is accepted: the fault was the only problem
    good = admin.post("/api/v1/launches", json=launch_body(pid))
    assert good.status_code == 201, good.text


@pytest.mark.parametrize(
    ("offsets", "field"),
    [
        ({"sale_opens_at": 3600, "sale_closes_at": 1800}, "sale_closes_at"),
        ({"sale_opens_at": 3600, "sale_closes_at": 3600}, "sale_closes_at"),
        ({"sale_opens_at": 3600, "reservations_open_at": 7200}, "reservations_open_at"),
    ],
)
def test_a_launch_with_times_out_of_order_is_refused(
    admin: httpx.Client, anyone: httpx.Client, offsets: dict[str, int], field: str
) -> None:
    pid = product_id(admin)
    base = now()
    times = {name: iso(base + timedelta(seconds=s)) for name, s in offsets.items()}
    before = launch_ids(anyone)
    response = admin.post("/api/v1/launches", json=launch_body(pid, **times))
    assert error(response) == (422, "invalid", field)
    assert launch_ids(anyone) == before


def test_a_launch_of_an_unknown_product_is_refused(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    before = launch_ids(anyone)
    response = admin.post("/api/v1/launches", json=launch_body("prd_missing"))
    assert error(response) == (404, "not_found", "product_id")
    assert launch_ids(anyone) == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"batch": {"A": 4}}, "batch.A"),  # smaller
        ({"batch": {"A": -1}}, "batch.A"),
        ({"batch": {"A": "9"}}, "batch.A"),
        ({"batch": {"Z": 9}}, "batch.Z"),
        ({"batch": {"A": 9, "B": 4}}, "batch.B"),  # one SKU grows, the other shrinks
        ({"sale_opens_at": NAIVE}, "sale_opens_at"),
        ({"sale_closes_at": NAIVE}, "sale_closes_at"),
        ({"reservations_open_at": NAIVE}, "reservations_open_at"),
        ({"published": False}, "published"),
        ({"published": "yes"}, "published"),
        ({"cancel": "true"}, "cancel"),
        ({"title": ""}, "title"),
        ({"per_fan_limit": 5}, "per_fan_limit"),  # not changeable after creation
    ],
    ids=lambda v: json.dumps(v),
)
def test_a_bad_launch_change_is_refused_and_changes_nothing(
    admin: httpx.Client, sale: Sale, changes: dict[str, Any], field: str
) -> None:
    before = state_of(admin, sale)
    response = admin.patch(f"/api/v1/launches/{sale.launch_id}", json=changes)
    assert error(response) == (422, "invalid", field)
    assert state_of(admin, sale) == before


def test_a_launch_change_closing_before_the_opening_is_refused(
    admin: httpx.Client, sale: Sale
) -> None:
    before = state_of(admin, sale)
    opens = before["launch"]["sale_opens_at"]
    response = admin.patch(f"/api/v1/launches/{sale.launch_id}", json={"sale_closes_at": opens})
    assert error(response) == (422, "invalid", "sale_closes_at")
    assert state_of(admin, sale) == before


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"sku": "A", "count": "3"}, 422, "invalid", "count"),
        ({"sku": "A", "count": 0}, 422, "invalid", "count"),
        ({"sku": "A", "count": -2}, 422, "invalid", "count"),
        ({"sku": "A", "count": 4}, 409, "insufficient_stock", "count"),  # 3 open units of A
        ({"sku": "Z", "count": 1}, 422, "invalid", "sku"),
        ({"count": 1, "expires_at": "2020-01-01T00:00:00Z"}, 422, "invalid", "expires_at"),
        ({"count": 1, "expires_at": "tomorrow"}, 422, "invalid", "expires_at"),
        ({"sku": "A", "count": 1, "each": 2}, 422, "invalid", "each"),
    ],
    ids=lambda v: json.dumps(v),
)
def test_bad_priority_code_requests_are_refused(
    admin: httpx.Client, sale: Sale, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    before = state_of(admin, sale)
    response = admin.post(f"/api/v1/launches/{sale.launch_id}/priority-codes", json=body)
    assert error(response) == (status, code, field)
    assert state_of(admin, sale) == before


@SCALE_OUT_TOO
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"method": "test", "token": 123}, 422, "token"),
        ({"method": None, "token": "tok_ok"}, 422, "method"),
        ({"token": "tok_ok"}, 422, "method"),
        ({"method": "cash", "token": "tok_ok"}, 422, "method"),
        ({"method": "test", "token": "tok_ok", "amount": 1}, 422, "amount"),
    ],
    ids=lambda v: json.dumps(v),
)
def test_a_bad_payment_is_refused_and_the_claim_stays_held(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, body: Any, status: int, field: str
) -> None:
    before = state_of(admin, sale)
    assert error(pay_body(anyone, sale, body)) == (status, "invalid", field)
    assert state_of(admin, sale) == before
    assert before["held"]["state"] == "held"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": 5}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"name": None}, "name"),
        ({"name": "   "}, "name"),
        ({"referral_code": 12}, "referral_code"),
        ({"referral_code": "NOSUCHCODE"}, "referral_code"),
        ({"is_admin": True}, "is_admin"),
    ],
    ids=lambda v: json.dumps(v),
)
def test_a_bad_registration_is_refused_and_registers_nobody(
    anyone: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    email = f"{uuid.uuid4().hex[:12]}@fans.test"
    body = {"email": email, "name": "Ann", **changes}
    assert error(anyone.post("/api/v1/fans", json=body)) == (422, "invalid", field)
    if isinstance(body["email"], str) and "@" in body["email"]:
        assert email_is_free(anyone, email)


# -- oversized bodies ----------------------------------------------------------------


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON padded with whitespace to exactly `size` bytes (still valid JSON)."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def chunks(raw: bytes, size: int = 1000) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, without a content-length."""
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


@SCALE_OUT_TOO
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_claim_body_over_4_kib_is_refused(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, chunked: bool
) -> None:
    before = state_of(admin, sale)
    raw = padded({"sku": "A"}, MAX_CLAIM_BODY + 1)
    response = anyone.post(
        f"/api/v1/launches/{sale.launch_id}/claims",
        content=chunks(raw) if chunked else raw,
        headers={**auth(sale.other["token"]), **key()},
    )
    if chunked:
        assert "content-length" not in response.request.headers
    assert error(response) == (413, "payload_too_large", None)
    assert state_of(admin, sale) == before


@SCALE_OUT_TOO
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_claim_body_of_exactly_4_kib_is_accepted(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, chunked: bool
) -> None:
    raw = padded({"sku": "A"}, MAX_CLAIM_BODY)
    response = anyone.post(
        f"/api/v1/launches/{sale.launch_id}/claims",
        content=chunks(raw) if chunked else raw,
        headers={**auth(sale.other["token"]), **key()},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_64_kib_is_refused_on_other_routes(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, chunked: bool
) -> None:
    before, listed = state_of(admin, sale), products(admin)
    email = f"{uuid.uuid4().hex[:12]}@fans.test"
    requests: list[tuple[httpx.Client, str, str, dict[str, Any]]] = [
        (anyone, "POST", "/api/v1/fans", {"email": email, "name": "Big"}),
        (admin, "POST", "/api/v1/products", {"name": "Big", "skus": [sku()]}),
        (admin, "PATCH", f"/api/v1/launches/{sale.launch_id}", {"title": "big"}),
    ]
    answers = {}
    for client, method, path, body in requests:
        raw = padded(body, MAX_BODY + 1)
        response = client.request(
            method,
            path,
            content=chunks(raw, 8192) if chunked else raw,
            headers={"content-type": "application/json"},
        )
        answers[f"{method} {path}"] = error(response)
    assert answers == dict.fromkeys(answers, (413, "payload_too_large", None))
    assert state_of(admin, sale) == before
    assert products(admin) == listed
    assert email_is_free(anyone, email)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_of_exactly_64_kib_is_accepted(anyone: httpx.Client, chunked: bool) -> None:
    raw = padded({"email": f"{uuid.uuid4().hex[:12]}@fans.test", "name": "Big"}, MAX_BODY)
    response = anyone.post(
        "/api/v1/fans",
        content=chunks(raw, 8192) if chunked else raw,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text


# -- tokens --------------------------------------------------------------------------

FAN_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/launches/{launch}/claims", {"sku": "A"}),
    ("POST", "/api/v1/launches/{launch}/reservations", None),
    ("GET", "/api/v1/claims/{claim}", None),
    ("DELETE", "/api/v1/claims/{claim}", None),
    ("POST", "/api/v1/claims/{claim}/payment", {"method": "test", "token": "tok_ok"}),
    ("GET", "/api/v1/me/orders", None),
    ("GET", "/api/v1/orders/ord_whatever", None),
]

ADMIN_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/api/v1/products", {"name": "P", "skus": [sku()]}),
    ("GET", "/api/v1/products", None),
    ("POST", "/api/v1/launches", {"product_id": "prd_x", "title": "t"}),
    ("PATCH", "/api/v1/launches/{launch}", {"cancel": True}),
    ("GET", "/api/v1/launches/{launch}/stats", None),
    ("POST", "/api/v1/launches/{launch}/priority-codes", {"sku": "A", "count": 1}),
    ("GET", "/api/v1/launches/{launch}/priority-codes", None),
]


def call(
    client: httpx.Client,
    sale: Sale,
    route: tuple[str, str, Any],
    headers: dict[str, str],
) -> httpx.Response:
    method, path, body = route
    url = path.format(launch=sale.launch_id, claim=sale.held_id)
    return client.request(method, url, json=body, headers={**key(), **headers})


def route_id(route: tuple[str, str, Any]) -> str:
    return f"{route[0]} {route[1]}"


@SCALE_OUT_TOO
@pytest.mark.parametrize("route", FAN_ROUTES + ADMIN_ROUTES, ids=route_id)
def test_no_token_is_401(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, route: tuple[str, str, Any]
) -> None:
    before = state_of(admin, sale)
    assert error(call(anyone, sale, route, {})) == (401, "unauthorized", None)
    assert error(call(anyone, sale, route, {"authorization": "Bearer"}))[:2] == (
        401,
        "unauthorized",
    )
    assert state_of(admin, sale) == before


def forged_tokens(fan: dict[str, Any], other: dict[str, Any]) -> dict[str, str]:
    fan_id, _, signature = fan["token"].rpartition(".")
    other_id, _, _ = other["token"].rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return {
        "tampered signature": f"{fan_id}.{flipped}",
        "made-up fan id": f"fan_{uuid.uuid4().hex[:20]}.{signature}",
        "another fan's id": f"{other_id}.{signature}",
        "no signature": fan_id,
        "empty signature": f"{fan_id}.",
        "garbage": "not-a-token",
        "admin token": ADMIN_TOKEN,
    }


FORGERIES = [
    "tampered signature",
    "made-up fan id",
    "another fan's id",
    "no signature",
    "empty signature",
    "garbage",
    "admin token",
]


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("route", FAN_ROUTES, ids=route_id)
def test_a_forged_or_non_fan_token_is_refused_on_fan_routes(
    admin: httpx.Client,
    anyone: httpx.Client,
    sale: Sale,
    route: tuple[str, str, Any],
    forgery: str,
) -> None:
    """401 for a token that is not valid; 403 for the admin's, valid but not a fan's (as
    a fan's token is 403 on the admin's routes)."""
    before = state_of(admin, sale)
    token = forged_tokens(sale.fan, sale.other)[forgery]
    refused = (403, "forbidden", None) if forgery == "admin token" else (401, "unauthorized", None)
    assert error(call(anyone, sale, route, auth(token))) == refused
    assert state_of(admin, sale) == before


@SCALE_OUT_TOO
@pytest.mark.parametrize("route", FAN_ROUTES, ids=route_id)
def test_a_token_in_another_scheme_is_401(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, route: tuple[str, str, Any]
) -> None:
    before = state_of(admin, sale)
    headers = {"authorization": f"Basic {sale.fan['token']}"}
    assert error(call(anyone, sale, route, headers)) == (401, "unauthorized", None)
    assert state_of(admin, sale) == before


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=route_id)
def test_a_fan_token_on_admin_routes_is_403(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, route: tuple[str, str, Any]
) -> None:
    before, listed = state_of(admin, sale), products(admin)
    response = call(anyone, sale, route, auth(sale.fan["token"]))
    assert error(response) == (403, "forbidden", None)
    assert state_of(admin, sale) == before
    assert products(admin) == listed


@pytest.mark.parametrize("forgery", ["tampered signature", "made-up fan id", "garbage"])
def test_a_forged_token_on_admin_routes_is_401(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, forgery: str
) -> None:
    before = state_of(admin, sale)
    token = forged_tokens(sale.fan, sale.other)[forgery]
    route = ("PATCH", "/api/v1/launches/{launch}", {"cancel": True})
    assert error(call(anyone, sale, route, auth(token))) == (401, "unauthorized", None)
    assert state_of(admin, sale) == before


# -- idempotency keys and other fans' claims ------------------------------------------


@SCALE_OUT_TOO
def test_a_claim_without_an_idempotency_key_is_refused(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale
) -> None:
    before = state_of(admin, sale)
    response = anyone.post(
        f"/api/v1/launches/{sale.launch_id}/claims",
        json={"sku": "A"},
        headers=auth(sale.other["token"]),
    )
    assert error(response) == (422, "missing_idempotency_key", "Idempotency-Key")
    assert state_of(admin, sale) == before


def test_a_payment_without_an_idempotency_key_is_refused(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale
) -> None:
    before = state_of(admin, sale)
    response = anyone.post(
        f"/api/v1/claims/{sale.held_id}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers=auth(sale.fan["token"]),
    )
    assert error(response) == (422, "missing_idempotency_key", "Idempotency-Key")
    assert state_of(admin, sale) == before


@SCALE_OUT_TOO
@pytest.mark.parametrize("value", ["", "k" * 201], ids=["empty", "too-long"])
@pytest.mark.parametrize("where", ["claim", "payment"])
def test_an_unusable_idempotency_key_is_refused(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale, value: str, where: str
) -> None:
    before = state_of(admin, sale)
    if where == "claim":
        url, body, token = f"/api/v1/launches/{sale.launch_id}/claims", {"sku": "A"}, sale.other
    else:
        url, body, token = (
            f"/api/v1/claims/{sale.held_id}/payment",
            {"method": "test", "token": "tok_ok"},
            sale.fan,
        )
    response = anyone.post(
        url, json=body, headers={**auth(token["token"]), "idempotency-key": value}
    )
    code = "idempotency_key_too_long" if value else "missing_idempotency_key"
    assert error(response) == (422, code, "Idempotency-Key")
    assert state_of(admin, sale) == before


def test_paying_someone_elses_claim_is_404_and_changes_nothing(
    admin: httpx.Client, anyone: httpx.Client, sale: Sale
) -> None:
    before = state_of(admin, sale)
    response = anyone.post(
        f"/api/v1/claims/{sale.held_id}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers={**auth(sale.other["token"]), **key()},
    )
    assert error(response) == (404, "not_found", None)
    assert state_of(admin, sale) == before
    assert before["held"]["state"] == "held"
    assert before["fan_orders"] == before["other_orders"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/launches/lch_missing/claims"),
        ("POST", "/api/v1/launches/lch_missing/reservations"),
        ("GET", "/api/v1/claims/clm_missing"),
        ("DELETE", "/api/v1/claims/clm_missing"),
        ("POST", "/api/v1/claims/clm_missing/payment"),
    ],
)
def test_unknown_ids_are_404(anyone: httpx.Client, sale: Sale, method: str, path: str) -> None:
    body = (
        {"sku": "A"}
        if path.endswith(("/claims", "/reservations"))
        else {"method": "test", "token": "tok_ok"}
    )
    response = anyone.request(
        method,
        path,
        json=body if method == "POST" else None,
        headers={**auth(sale.fan["token"]), **key()},
    )
    assert error(response)[:2] == (404, "not_found")


@SCALE_OUT_TOO
def test_the_error_shape_is_the_same_on_both_paths(anyone: httpx.Client, sale: Sale) -> None:
    """The hot path and the framework answer the same JSON error shape and content type."""
    hot = post_claim(anyone, sale, {"sku": "A", "x": 1})
    framework = anyone.post(
        "/api/v1/fans", json={"email": f"{uuid.uuid4().hex}@fans.test", "name": "N", "x": 1}
    )
    for response in (hot, framework):
        assert response.headers["content-type"].startswith("application/json")
        assert error(response) == (422, "invalid", "x")
