"""The OpenAPI schema tells the truth: every operation documents each status it answers,
errors in the one `Error` shape, and the headers it requires as required.

`test_every_answer_matches_the_schema` is a bounded schemathesis run over every operation,
in-process (httpx over ASGI, through the claim hot path in front of the app; a fake clock;
the in-memory store), with the maker's token and fans' tokens. It fails on any 5xx, any
status the operation does not document, and any answer whose content type, headers or
body the schema does not describe. It is derandomized (the same cases each run, until this
file or a library changes) and bounded by `MAX_EXAMPLES` per operation and a deadline per
case.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from soldout.api.app import build_app
from soldout.api.openapi import ClaimAnswer, Error
from soldout.clock import FakeClock
from soldout.services import Platform
from soldout.services.demo_art import phone_front
from soldout.services.gate import GateSettings
from soldout.services.throttle import ThrottleSettings
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.support import shipping_address

ADMIN = "adm_in_process_token_for_the_schema"
ORIGIN = "http://shop.test"
# Cases per operation: about 1,400 in all, some 12 s of CPU (20 s on a busy 2-core machine)
MAX_EXAMPLES = 25
DEADLINE = timedelta(seconds=2)  # one case, in-process; most take a few milliseconds
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Bodies that get past validation, so that the run also sees what these answer then
GOOD_BODIES = {
    "POST /api/v1/launches/{launch_id}/claims": {"sku": "A"},
    "POST /api/v1/claims/{claim_id}/payment": {"method": "test", "token": "tok_ok"},
}


class Shop:
    """The whole app on an event loop of its own, called from synchronous code: Hypothesis
    runs one case after another outside any loop, and the platform stays on this one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.platform = Platform(
            InMemoryStore(),
            TokenSigner(b"s" * 32, ADMIN),
            clock=self.clock,
            gate=GateSettings(fan_rate=0),  # (the limit runs on the real clock: not repeatable)
            throttle=ThrottleSettings(signups_per_address=0),  # a fan per operation
            public_url=ORIGIN,
        )
        self.loop.run_until_complete(self.platform.start(sweep=False))
        # an error in the app is its 500 answer, which the run reports, not an exception
        transport = httpx.ASGITransport(app=build_app(self.platform), raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url=ORIGIN)

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def sent() -> httpx.Response:
            response = await self.client.request(method, url, **kwargs)
            await response.request.aread()  # (schemathesis reads what was sent)
            return response

        return self.loop.run_until_complete(sent())

    def made(self, method: str, url: str, status: int = 201, **kwargs: Any) -> dict[str, Any]:
        response = self.send(method, url, **kwargs)
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.platform.stop())
        self.loop.close()


@dataclass
class Sale:
    """What each operation is tried on: a product with a picture and a launch on sale
    (shared), and a fan of its own with a paid order and a held claim (so that one
    operation signing the fan out or erasing them leaves the next one a fan). Their ids
    stand in for made-up path parameters."""

    shop: Shop
    admin: dict[str, str]
    ids: dict[str, str]
    fans: Iterator[int] = field(default_factory=itertools.count)

    def fan(self) -> tuple[dict[str, str], dict[str, str]]:
        """A new fan's authorization header, and the ids of their order and held claim."""
        n = next(self.fans)
        joined = self.shop.made(
            "POST",
            "/api/v1/fans",
            json={"email": f"fan{n}@fans.test", "name": f"Fan {n}", "shipping": shipping_address()},
        )
        auth = {"authorization": f"Bearer {joined['token']}"}
        claims = f"/api/v1/launches/{self.ids['launch_id']}/claims"
        paid = self.shop.made(
            "POST", claims, headers={**auth, "idempotency-key": "1"}, json={"sku": "A"}
        )
        order = self.shop.made(
            "POST",
            f"/api/v1/claims/{paid['id']}/payment",
            200,
            headers={**auth, "idempotency-key": "2"},
            json={"method": "test", "token": "tok_ok"},
        )
        held = self.shop.made(
            "POST", claims, headers={**auth, "idempotency-key": "3"}, json={"sku": "B"}
        )
        return auth, {"fan_id": joined["id"], "order_id": order["id"], "claim_id": held["id"]}


def open_sale(shop: Shop) -> Sale:
    admin = {"authorization": f"Bearer {ADMIN}"}
    skus = [
        {"code": code, "name": f"Model One {code}", "price": 19900, "currency": "EUR"}
        for code in ("A", "B")
    ]
    product = shop.made(
        "POST", "/api/v1/products", headers=admin, json={"name": "Model One", "skus": skus}
    )
    picture = {"image": ("phone.png", phone_front(), "image/png")}
    added = shop.send(
        "POST", f"/api/v1/products/{product['id']}/images", headers=admin, files=picture
    )
    launch = shop.made(
        "POST",
        "/api/v1/launches",
        headers=admin,
        json={
            "product_id": product["id"],
            "title": "Model One: first round",
            "sale_opens_at": (shop.clock.now() - timedelta(seconds=1)).isoformat(),
            "batch": {"A": 10_000, "B": 10_000},
            "per_fan_limit": 5,
            "race": "fast",
        },
    )
    ids = {
        "launch_id": launch["id"],
        "product_id": product["id"],
        "media_id": added.headers["location"].rsplit("/", 1)[1],
        "sku": "A",
        "run": "schema-run",
        "provider": shop.platform.payments.name,
    }
    return Sale(shop, admin, ids)


@pytest.fixture(scope="module")
def sale() -> Iterator[Sale]:
    shop = Shop()
    try:
        yield open_sale(shop)
    finally:
        shop.close()


# -- the schema says what known operations answer -------------------------------------


def _json_schema(operation: dict[str, Any], status: str) -> dict[str, Any]:
    schema: dict[str, Any] = operation["responses"][status]["content"]["application/json"]["schema"]
    return schema


def test_the_schema_documents_what_known_operations_answer(sale: Sale) -> None:
    schema = sale.shop.made("GET", "/openapi.json", 200)
    claim = schema["paths"]["/api/v1/launches/{launch_id}/claims"]["post"]
    payment = schema["paths"]["/api/v1/claims/{claim_id}/payment"]["post"]
    for operation in (claim, payment):
        (key,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert (key["in"], key["required"]) == ("header", True)
    error = {"$ref": "#/components/schemas/Error"}
    for status in ("400", "401", "403", "404", "409", "413", "422", "429", "503"):
        assert _json_schema(claim, status) == error, status
    assert "Retry-After" in claim["responses"]["429"]["headers"]
    for status in ("200", "201"):
        assert _json_schema(claim, status) == {"$ref": "#/components/schemas/ClaimAnswer"}
    create_product = schema["paths"]["/api/v1/products"]["post"]
    for status in ("400", "401", "403", "413", "415", "422"):
        assert _json_schema(create_product, status) == error, status
    my_orders = schema["paths"]["/api/v1/me/orders"]["get"]
    # (400: `bad_header`; 403: the admin's token, valid but not a fan's)
    assert set(my_orders["responses"]) == {"200", "400", "401", "403"}
    codes_csv = schema["paths"]["/api/v1/launches/{launch_id}/priority-codes.csv"]["get"]
    assert set(codes_csv["responses"]["200"]["content"]) == {"text/csv"}
    assert _json_schema(codes_csv, "404") == error  # (errors are JSON on a CSV route too)
    assert "HTTPValidationError" not in schema["components"]["schemas"]

    # ... and the answers are what it says, on the hot path: no Idempotency-Key is a 422
    fan, _ = sale.fan()
    url = f"/api/v1/launches/{sale.ids['launch_id']}/claims"
    refused = sale.shop.send("POST", url, headers=fan, json={"sku": "A"})
    assert refused.status_code == 422
    why = Error.model_validate(refused.json()).error
    assert (why.code, why.field) == ("missing_idempotency_key", "Idempotency-Key")
    # a claim, and its replay, are the documented claim (no field more, none less)
    once = sale.shop.send("POST", url, headers={**fan, "idempotency-key": "k"}, json={"sku": "A"})
    again = sale.shop.send("POST", url, headers={**fan, "idempotency-key": "k"}, json={"sku": "A"})
    assert (once.status_code, again.status_code) == (201, 200)
    assert ClaimAnswer.model_validate(once.json()) == ClaimAnswer.model_validate(again.json())


def test_a_shipments_csv_with_a_stray_carriage_return_is_refused_not_a_500(sale: Sale) -> None:
    """Found by the run below: a bare CR inside a field made the CSV reader raise (500)."""
    answer = sale.shop.send(
        "POST",
        "/api/v1/shipments",
        headers={**sale.admin, "content-type": "text/csv"},
        content=b"order_id,carrier\r\nord_1,D\rHL\r\n",
    )
    assert answer.status_code == 404, answer.text  # (no order ord_1: the CSV was read)
    assert Error.model_validate(answer.json()).error.field == "line 2: order_id"


# -- every answer matches the schema ---------------------------------------------------


@dataclass
class Tally:
    operations: int = 0
    cases: int = 0
    failures: set[str] = field(default_factory=set)


def _order(operation: APIOperation) -> tuple[int, str]:
    """Reads first, then writes, then deletions: what the shared launch and product go
    through (a launch cancelled, an image removed) comes as late as it can."""
    rank = {"GET": 0, "PATCH": 2, "DELETE": 3}.get(operation.method.upper(), 1)
    return rank, operation.label


def _cases(sale: Sale, operation: APIOperation) -> st.SearchStrategy[Any]:
    """Valid and invalid data with the token the operation is for, at the sale's ids and at
    made-up ones; valid data at the sale's ids with each other token (refused, or not
    needed); and, for a purchase or a payment, a body that gets past validation."""
    fan, fan_ids = sale.fan()
    tokens = {"admin": sale.admin, "fan": fan, "none": {}}
    definition = operation.definition.raw
    if not definition.get("security"):
        mine = tokens.pop("none")
    else:
        mine = tokens.pop("fan" if "fan" in definition.get("tags", ()) else "admin")
    ids = {**sale.ids, **fan_ids}
    known = {name: value for name, value in ids.items() if "{" + name + "}" in operation.path}
    branches = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        branches.append(operation.as_strategy(mode, headers=mine, path_parameters=known))
        if known:
            branches.append(operation.as_strategy(mode, headers=mine))
    for other in tokens.values():
        branches.append(operation.as_strategy(headers=other, path_parameters=known))
    if operation.label in GOOD_BODIES:
        body = GOOD_BODIES[operation.label]
        branches.append(operation.as_strategy(headers=mine, path_parameters=known, body=body))
    return st.one_of(branches)


def _send(shop: Shop, case: Any) -> httpx.Response:
    """The case as schemathesis would send it (its body serialized by `requests`, which it
    is written for), through httpx to the app."""
    sent = requests.Request(**case.as_transport_kwargs(base_url=ORIGIN)).prepare()
    assert sent.method is not None
    assert sent.url is not None
    return shop.send(sent.method, sent.url, headers=dict(sent.headers), content=sent.body)


def _run(sale: Sale, operation: APIOperation, tally: Tally) -> None:
    def found(failure: Failure, response: httpx.Response) -> None:
        answer = f"{response.status_code} {response.text[:200]}"
        tally.failures.add(f"{operation.label}: {failure.title} ({answer})")

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=DEADLINE,
        phases=[Phase.explicit, Phase.generate],  # (no shrinking: each failure is listed)
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=_cases(sale, operation))
    def check(case: Any) -> None:
        tally.cases += 1
        response = _send(sale.shop, case)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                found(failure, response)
        except Failure as failure:
            found(failure, response)

    check()


@pytest.mark.slow
def test_every_answer_matches_the_schema(sale: Sale) -> None:
    schema = schemathesis.openapi.from_dict(sale.shop.made("GET", "/openapi.json", 200))
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    tally = Tally()
    started = time.monotonic()
    for operation in operations:
        tally.operations += 1
        _run(sale, operation, tally)
    print(
        f"schemathesis: {tally.operations} operations, {tally.cases} cases,"
        f" {len(tally.failures)} failures, {time.monotonic() - started:.1f} s"
    )
    assert not tally.failures, "\n".join(sorted(tally.failures))
