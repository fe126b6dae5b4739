"""Input hygiene over HTTP, in-process (httpx over ASGI, a fake clock): control and bidi
characters and names that only look filled are refused wherever people write text; an
e-mail address has one form, so a full-width one finds the account (also one a store kept
before); currencies are ISO 4217's in use; a JSON key given twice is refused, on the claim
hot path too; a JSON body sent as another type is told so. Each refusal names its field
and leaves nothing written. The shared rules' unit tests: `tests/unit/test_input_hygiene.py`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.domain.fans import Fan
from soldout.domain.launches import Launch, Race, rules_for
from soldout.domain.money import Money
from soldout.domain.products import Product, Sku
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.sqlite import SqliteStore
from tests.support import error, shipping_address

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

ADMIN = {"authorization": "Bearer adm"}
BASE = "http://shop.test"
JSON = {"content-type": "application/json"}
FULL_WIDTH_ANN = "\uff41\uff4e\uff4e\uff20\uff46\uff41\uff4e\uff53\uff0e\uff54\uff45\uff53\uff54"


@dataclass
class Shop:
    platform: Platform
    api: httpx.AsyncClient
    product_id: str
    launch_id: str
    fan: dict[str, str]

    @property
    def fan_auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.fan['token']}"}

    async def state(self) -> dict[str, Any]:
        """What the API shows of the shop's products, launches and the sale."""
        products = await self.api.get("/api/v1/products", headers=ADMIN)
        launches = await self.api.get("/api/v1/launches", headers=ADMIN)
        stats = await self.api.get(f"/api/v1/launches/{self.launch_id}/stats", headers=ADMIN)
        emails = ("bo@fans.test", "cy@fans.test", "dee@fans.test", "eve@fans.test")
        fans = [e for e in emails if await self.platform.store.fans.by_email(e) is not None]
        return {
            "products": products.json(),
            "launches": [
                {k: v for k, v in x.items() if k != "server_time"} for x in launches.json()
            ],
            "stats": {k: v for k, v in stats.json().items() if k != "server_time"},
            "fans": fans,
        }


async def _running(store: Any) -> tuple[Platform, httpx.AsyncClient]:
    platform = Platform(store, TokenSigner(b"k" * 32, "adm"), clock=FakeClock())
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    return platform, httpx.AsyncClient(transport=transport, base_url=BASE, headers={"origin": BASE})


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    platform, api = await _running(InMemoryStore())
    async with api:
        product = await api.post(
            "/api/v1/products",
            json={"name": "Lamp", "skus": [sku("A"), sku("B")]},
            headers=ADMIN,
        )
        assert product.status_code == 201, product.text
        opens = platform.clock.now() - timedelta(seconds=1)
        launch = await api.post(
            "/api/v1/launches",
            json={
                "product_id": product.json()["id"],
                "title": "First batch",
                "sale_opens_at": opens.isoformat(),
                "batch": {"A": 5, "B": 5},
                "per_fan_limit": 2,
                "race": "fast",
            },
            headers=ADMIN,
        )
        assert launch.status_code == 201, launch.text
        fan = await api.post("/api/v1/fans", json={"email": "ann@fans.test", "name": "Ann"})
        assert fan.status_code == 201, fan.text
        yield Shop(platform, api, product.json()["id"], launch.json()["id"], fan.json())
    await platform.stop()


def sku(code: str, **changes: Any) -> dict[str, Any]:
    return {"code": code, "name": f"SKU {code}", "price": 1000, "currency": "EUR", **changes}


# -- names and text ----------------------------------------------------------------------

NUL, RLO, ZERO_WIDTH, HANGUL_FILLER = "\x00", "\u202e", "\u200b", "\u3164"


def _writes(shop: Shop, text: str) -> list[tuple[str, str, dict[str, Any], dict[str, str], str]]:
    """(method, path, body, headers, field) of every call where people write a name or a
    line of text, with `text` in that place."""
    product, launch = f"/api/v1/products/{shop.product_id}", f"/api/v1/launches/{shop.launch_id}"
    skus = [sku("A"), sku("B", name=text)]
    return [
        ("POST", "/api/v1/fans", {"email": "bo@fans.test", "name": text}, {}, "name"),
        ("POST", "/api/v1/products", {"name": text, "skus": [sku("A")]}, ADMIN, "name"),
        ("POST", "/api/v1/products", {"name": "P", "skus": skus}, ADMIN, "skus[1].name"),
        ("PATCH", product, {"name": text}, ADMIN, "name"),
        ("PATCH", product, {"skus": skus}, ADMIN, "skus[1].name"),
        ("PATCH", product, {"specs": [{"label": text, "value": "1 kg"}]}, ADMIN, "specs[0].label"),
        (
            "POST",
            "/api/v1/launches",
            {"product_id": shop.product_id, "title": text, "batch": {"A": 1}}
            | {"sale_opens_at": shop.platform.clock.now().isoformat()},
            ADMIN,
            "title",
        ),
        ("PATCH", launch, {"title": text}, ADMIN, "title"),
        (
            "PUT",
            "/api/v1/me/shipping",
            shipping_address() | {"line1": text},
            shop.fan_auth,
            "shipping.line1",
        ),
        (
            "POST",
            f"/api/v1/products/{shop.product_id}/skus/A/shipments",
            {"count": 1, "carrier": text},
            ADMIN,
            "carrier",
        ),
    ]


@pytest.mark.parametrize(
    "text",
    [f"Ann{NUL}", f"{RLO}Ann", "Ann\x1b[2J", ZERO_WIDTH, HANGUL_FILLER, f"{ZERO_WIDTH} \u3000"],
    ids=["NUL", "right-to-left override", "escape", "zero-width", "Hangul filler", "blank"],
)
async def test_names_and_text_people_write_are_refused_naming_the_field(
    shop: Shop, text: str
) -> None:
    before = await shop.state()
    for method, path, body, headers, field in _writes(shop, text):
        answer = await shop.api.request(method, path, json=body, headers=headers)
        assert error(answer) == (422, "invalid", field), (method, path, answer.text)
    assert await shop.state() == before
    assert (await shop.api.get("/api/v1/me/shipping", headers=shop.fan_auth)).json() == {
        "shipping": None
    }


async def test_a_description_keeps_its_lines_but_not_a_control_character(shop: Shop) -> None:
    path = f"/api/v1/products/{shop.product_id}"
    markdown = "# Lamp\r\n\n    code\n\tindented"
    kept = await shop.api.patch(path, json={"description": markdown}, headers=ADMIN)
    assert kept.status_code == 200, kept.text
    assert kept.json()["description"] == markdown
    refused = await shop.api.patch(path, json={"description": f"# Lamp\n{NUL}"}, headers=ADMIN)
    assert error(refused) == (422, "invalid", "description")
    assert (await shop.api.get(path, headers=ADMIN)).json()["description"] == markdown


async def test_names_in_any_script_are_welcome(shop: Shop) -> None:
    for name in ("李小龙", "Zoë Ødegård", "\u0622\u0646\u200f", "\U0001f469\u200d\U0001f4bb"):
        made = await shop.api.post(
            "/api/v1/fans", json={"email": f"{uuid.uuid4().hex}@fans.test", "name": name}
        )
        assert made.status_code == 201, made.text


async def test_a_product_stored_before_the_rule_can_still_be_edited(tmp_path: Path) -> None:
    platform, api = await _running(SqliteStore(tmp_path / "soldout.db"))
    old = Product(
        "prd_old",
        "Lamp\x07",  # as an earlier version let it in
        "",
        (Sku("A", "Black\x07", Money(1000, "HRK"), Money(0, "HRK")),),  # kuna: gone in 2023
        platform.clock.now(),
    )
    await platform.store.products.add(old)
    async with api:
        path = "/api/v1/products/prd_old"
        kept = [{"code": "A", "name": "Black\x07", "price": 1200, "currency": "HRK"}]
        edited = await api.patch(path, json={"description": "new", "skus": kept}, headers=ADMIN)
        assert edited.status_code == 200, edited.text
        assert edited.json()["skus"][0]["price"] == 1200
        more = [*kept, {"code": "B", "name": "White", "price": 1200, "currency": "HRK"}]
        refused = await api.patch(path, json={"skus": more}, headers=ADMIN)
        assert error(refused) == (422, "unknown_currency", "skus[1].currency")
        renamed = await api.patch(path, json={"name": "Lamp\x07!"}, headers=ADMIN)
        assert error(renamed) == (422, "invalid", "name")
    await platform.stop()


# -- e-mail addresses --------------------------------------------------------------------


async def test_a_full_width_address_is_the_same_account(shop: Shop) -> None:
    again = await shop.api.post("/api/v1/fans", json={"email": FULL_WIDTH_ANN, "name": "Ann"})
    assert error(again) == (409, "email_taken", "email")
    made = await shop.api.post(
        "/api/v1/fans", json={"email": "\uff22\uff4f@fans.test", "name": "Bo"}
    )
    assert made.status_code == 201, made.text
    fan = await shop.platform.store.fans.get(made.json()["id"])
    assert fan is not None
    assert fan.email == "bo@fans.test"


async def test_an_address_a_store_kept_before_is_found_however_it_is_written(
    tmp_path: Path,
) -> None:
    """A row written by an earlier version (lower case, the domain in IDNA) is the one
    form the rule makes today: registering again and signing in find it."""
    platform, api = await _running(SqliteStore(tmp_path / "soldout.db"))
    old = Fan("fan_old", "ann@xn--mnchen-3ya.de", "Ann", "OLDCODE1", None, platform.clock.now())
    await platform.store.fans.add(old)
    async with api:
        written = "\uff21\uff2e\uff2e\uff20m\u00fcnchen\uff0ede"  # "ANN@" and "." full-width
        again = await api.post("/api/v1/fans", json={"email": written, "name": "Ann"})
        assert error(again) == (409, "email_taken", "email")
        signin = await api.post("/signin", data={"email": written})
        assert signin.status_code == 200, signin.text
    notes = await platform.store.notifications.for_fan("fan_old", 10)
    assert [n.kind for n in notes] == ["sign_in_link"]
    await platform.stop()


# -- currencies --------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["EUX", "XXX", "DEM"])
async def test_a_currency_must_be_one_in_use(shop: Shop, currency: str) -> None:
    before = await shop.state()
    made = await shop.api.post(
        "/api/v1/products",
        json={"name": "P", "skus": [sku("A"), sku("B", currency=currency)]},
        headers=ADMIN,
    )
    assert error(made) == (422, "unknown_currency", "skus[1].currency")
    changed = await shop.api.patch(
        f"/api/v1/products/{shop.product_id}",
        json={"skus": [sku("A"), sku("B"), sku("C", currency=currency)]},
        headers=ADMIN,
    )
    assert error(changed) == (422, "unknown_currency", "skus[2].currency")
    assert await shop.state() == before


async def test_a_product_is_sold_in_one_currency(shop: Shop) -> None:
    before = await shop.state()
    made = await shop.api.post(
        "/api/v1/products",
        json={"name": "P", "skus": [sku("A"), sku("B"), sku("C", currency="USD")]},
        headers=ADMIN,
    )
    assert error(made) == (422, "mixed_currencies", "skus[2].currency")
    path = f"/api/v1/products/{shop.product_id}"
    added = await shop.api.patch(
        path, json={"skus": [sku("A"), sku("B"), sku("C", currency="USD")]}, headers=ADMIN
    )
    assert error(added) == (422, "mixed_currencies", "skus[2].currency")
    assert await shop.state() == before


async def test_a_product_stored_in_two_currencies_loads_and_is_mended(tmp_path: Path) -> None:
    """Stored before the rule, with a launch of both SKUs: the shop starts, shows it and
    its launch, takes an edit that keeps the currencies, and launches one currency again."""
    path = tmp_path / "soldout.db"
    platform, api = await _running(SqliteStore(path))
    eur, usd = Money(1000, "EUR"), Money(1100, "USD")
    skus = (Sku("A", "Black", eur, None), Sku("B", "White", usd, None))
    await platform.store.products.add(Product("prd_mixed", "Lamp", "", skus, platform.clock.now()))
    opens = platform.clock.now() + timedelta(days=1)
    old = Launch("lch_mixed", "prd_mixed", "Old", opens, rules_for(Race.FAST, units=4),
                 {"A": 2, "B": 2}, platform.clock.now())  # fmt: skip
    await platform.store.launches.add(old)
    await platform.stop()
    platform, api = await _running(SqliteStore(path))
    async with api:
        shown = await api.get("/api/v1/launches/lch_mixed")
        assert shown.status_code == 200, shown.text
        product = (await api.get("/api/v1/products/prd_mixed", headers=ADMIN)).json()
        assert [s["currency"] for s in product["skus"]] == ["EUR", "USD"]
        kept = [sku("A", name="Black, new"), sku("B", price=1100, currency="USD")]
        edited = await api.patch("/api/v1/products/prd_mixed", json={"skus": kept}, headers=ADMIN)
        assert edited.status_code == 200, edited.text
        launch = {"product_id": "prd_mixed", "title": "Again", "sale_opens_at": opens.isoformat()}
        both = await api.post(
            "/api/v1/launches", json=launch | {"batch": {"A": 1, "B": 1}}, headers=ADMIN
        )
        assert error(both) == (422, "mixed_currencies", "batch.B")
        one = await api.post("/api/v1/launches", json=launch | {"batch": {"A": 1}}, headers=ADMIN)
        assert one.status_code == 201, one.text
    await platform.stop()


# -- JSON bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/products", b'{"name":"P","name":"Q","skus":[]}', "name"),
        (
            "/api/v1/products",
            b'{"name":"P","skus":[{"code":"A","name":"A","price":1,"currency":"EUR","code":"B"}]}',
            "skus[0].code",
        ),
        ("/api/v1/fans", b'{"email":"cy@fans.test","name":"Cy","email":"dee@fans.test"}', "email"),
    ],
)
async def test_a_key_given_twice_is_refused_naming_it(
    shop: Shop, path: str, body: bytes, field: str
) -> None:
    before = await shop.state()
    answer = await shop.api.post(path, content=body, headers=ADMIN | JSON)
    assert error(answer) == (422, "duplicate_key", field)
    assert await shop.state() == before


async def test_a_claim_with_a_key_given_twice_is_refused_on_the_hot_path(shop: Shop) -> None:
    before = await shop.state()
    for body in (b'{"sku":"A","sku":"B"}', b'{"sku":"A","quantity":1,"quantity":2}'):
        answer = await shop.api.post(
            f"/api/v1/launches/{shop.launch_id}/claims",
            content=body,
            headers=shop.fan_auth | JSON | {"idempotency-key": uuid.uuid4().hex},
        )
        assert answer.status_code == 422, answer.text
        assert error(answer)[1] == "duplicate_key"
    assert await shop.state() == before


async def test_a_payment_with_a_key_given_twice_is_refused(shop: Shop) -> None:
    claim = await shop.api.post(
        f"/api/v1/launches/{shop.launch_id}/claims",
        json={"sku": "A"},
        headers=shop.fan_auth | {"idempotency-key": "c1"},
    )
    assert claim.status_code == 201, claim.text
    paid = await shop.api.post(
        f"/api/v1/claims/{claim.json()['id']}/payment",
        content=b'{"method":"test","token":"tok_ok","token":"tok_decline"}',
        headers=shop.fan_auth | JSON | {"idempotency-key": "p1"},
    )
    assert error(paid) == (422, "duplicate_key", "token")
    assert (await shop.api.get("/api/v1/me/orders", headers=shop.fan_auth)).json() == []


# -- content types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "text/json", "application/x-json"],
)
async def test_a_json_body_sent_as_another_type_is_told_so(
    shop: Shop, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    answer = await shop.api.post(
        "/api/v1/fans", content=b'{"email":"eve@fans.test","name":"Eve"}', headers=headers
    )
    assert error(answer) == (415, "unsupported_media_type", None)
    assert "Content-Type: application/json" in answer.json()["error"]["message"]


async def test_a_claim_is_read_as_json_whatever_its_type(shop: Shop) -> None:
    """The hot path reads only JSON claims: the header is not needed (curl -d works)."""
    answer = await shop.api.post(
        f"/api/v1/launches/{shop.launch_id}/claims",
        content=b'{"sku":"A"}',
        headers=shop.fan_auth
        | {"idempotency-key": "k1", "content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 201, answer.text
