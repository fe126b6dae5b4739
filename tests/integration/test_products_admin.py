"""The maker's products over HTTP, in-process (httpx over ASGI, a fake clock): the JSON
API (PATCH, images, media with its cache headers) and the admin's forms (any number of
SKUs, prices typed as decimals, images, Markdown preview, the shop's look and favicon)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.domain.money import Money
from soldout.domain.products import Product, Sku
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.sqlite import SqliteStore
from tests.support import error

ADMIN = {"authorization": "Bearer adm"}
BASE = "http://shop.test"


async def _running(store: Any, clock: FakeClock) -> tuple[Platform, httpx.AsyncClient]:
    platform = Platform(store, TokenSigner(b"k" * 32, "adm"), clock=clock)
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    client = httpx.AsyncClient(transport=transport, base_url=BASE, headers={"origin": BASE})
    return platform, client


@pytest.fixture
async def shop() -> AsyncIterator[tuple[Platform, httpx.AsyncClient]]:
    platform, client = await _running(InMemoryStore(), FakeClock())
    async with client:
        yield platform, client
    await platform.stop()


def photo(width: int = 1200, height: int = 800, kind: str = "JPEG", colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, kind)
    return out.getvalue()


async def api_product(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Desk Lamp",
        "skus": [
            {"code": "A", "name": "Black", "price": 12900, "cost": 4000, "currency": "EUR"},
            {"code": "B", "name": "White", "price": 13900, "currency": "EUR"},
        ],
        **extra,
    }
    made = await client.post("/api/v1/products", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text
    product: dict[str, Any] = made.json()
    return product


async def api_launch(platform: Platform, client: httpx.AsyncClient, product_id: str) -> str:
    opens = platform.clock.now() - timedelta(seconds=1)
    made = await client.post(
        "/api/v1/launches",
        json={
            "product_id": product_id,
            "title": "First batch",
            "sale_opens_at": opens.isoformat(),
            "batch": {"A": 10},
            "per_fan_limit": 1,
            "race": "fast",  # no waiting room: the test claims straight away
        },
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    launch_id: str = made.json()["id"]
    return launch_id


async def audit(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await client.get("/api/v1/audit", headers=ADMIN)).json()
    return entries


# -- the JSON API ----------------------------------------------------------------------
async def test_the_api_makes_edits_and_shows_specs_and_images(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    _platform, client = shop
    product = await api_product(client, specs=[{"label": "Weight", "value": "1.2 kg"}])
    assert product["specs"] == [{"label": "Weight", "value": "1.2 kg"}]
    assert product["images"] == []
    pid = product["id"]

    added = await client.post(
        f"/api/v1/products/{pid}/images",
        files={"image": ("lamp.jpg", photo(), "image/jpeg")},
        headers=ADMIN,
    )
    assert added.status_code == 201, added.text
    image = added.json()["images"][0]
    assert added.headers["location"] == f"/media/{image['id']}"
    assert image["urls"] == {
        "480": f"/media/{image['id']}-480",
        "960": f"/media/{image['id']}-960",
        "1600": f"/media/{image['id']}",
    }
    assert image["og_url"] == f"/media/{image['id']}-og"

    changed = await client.patch(
        f"/api/v1/products/{pid}",
        json={
            "name": "Desk Lamp II",
            "description": "## Story\n\nMade **slowly**.",
            "specs": [{"label": "Height", "value": "42 cm"}, {"label": "Bulb", "value": "E27"}],
            "skus": [
                {"code": "A", "name": "Black", "price": 14900, "currency": "EUR"},
                {"code": "C", "name": "Green", "price": 7000, "currency": "EUR"},
            ],
        },
        headers=ADMIN,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"] == "Desk Lamp II"
    assert [(s["code"], s["price"]) for s in body["skus"]] == [("A", 14900), ("C", 7000)]
    assert [s["label"] for s in body["specs"]] == ["Height", "Bulb"]
    assert [i["id"] for i in body["images"]] == [image["id"]]  # left out: unchanged
    again = (await client.get(f"/api/v1/products/{pid}", headers=ADMIN)).json()
    assert again == body

    entries = await audit(client)
    assert [e["action"] for e in entries[:3]] == [
        "product.change",
        "product.image.add",
        "product.create",
    ]
    assert entries[0]["detail"]["skus_added"] == ["C"]
    assert entries[0]["detail"]["skus_removed"] == ["B"]
    assert entries[0]["detail"]["prices"] == {"A": {"from": "EUR 129.00", "to": "EUR 149.00"}}
    assert set(entries[0]["detail"]["changed"]) == {"name", "description", "specs", "skus"}


async def test_media_are_served_for_a_year_with_their_type_and_an_etag(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    _, client = shop
    product = await api_product(client)
    added = await client.post(
        f"/api/v1/products/{product['id']}/images",
        files={"image": ("lamp.png", photo(kind="PNG"), "image/png")},
        headers=ADMIN,
    )
    image = added.json()["images"][0]
    for url, kind in [(image["urls"]["480"], "image/webp"), (image["og_url"], "image/jpeg")]:
        got = await client.get(url)  # no token: images are public
        assert got.status_code == 200
        assert got.headers["content-type"] == kind
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert got.headers["x-content-type-options"] == "nosniff"
        etag = got.headers["etag"]
        assert Image.open(io.BytesIO(got.content)).format in ("WEBP", "JPEG")
        unchanged = await client.get(url, headers={"if-none-match": etag})
        assert unchanged.status_code == 304
        assert unchanged.content == b""
    og = await client.get(image["og_url"])
    assert Image.open(io.BytesIO(og.content)).size == (1200, 630)
    for unknown in ("img_" + "0" * 32, "img_" + "0" * 32 + "-480", "nope", "img_x-og"):
        missing = await client.get(f"/media/{unknown}")
        assert error(missing) == (404, "not_found", "media_id")
    assert (await client.get("/media/..%2F..%2Fsoldout.db")).status_code == 404


async def test_the_api_refuses_bad_edits_in_words_and_changes_nothing(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    product = await api_product(client)
    pid = product["id"]
    await api_launch(platform, client, pid)

    def sku(code: str, price: int = 100, currency: str = "EUR") -> dict[str, Any]:
        return {"code": code, "name": code, "price": price, "currency": currency}

    cases: list[tuple[dict[str, Any], tuple[int, str, str | None]]] = [
        ({"skus": [sku("B")]}, (422, "sku_in_launch", "skus")),  # A is in the launch
        (
            {"skus": [sku("A", currency="USD"), sku("B")]},
            (422, "sku_in_launch", "skus[0].currency"),
        ),
        ({"skus": [sku("A"), sku("A")]}, (422, "invalid", "skus[1].code")),
        ({"skus": [sku("A"), sku("bad code!")]}, (422, "invalid", "skus[1].code")),
        ({"skus": [{**sku("A"), "price": "12.50"}]}, (422, "invalid", "skus[0].price")),
        ({"skus": [sku("A"), sku("B", price=0)]}, (422, "invalid", "skus[1].price")),
        ({"skus": [sku("A", currency="euro")]}, (422, "invalid", "skus[0].currency")),
        ({"skus": []}, (422, "invalid", "skus")),
        ({"images": ["img_" + "1" * 32]}, (422, "unknown_image", "images[0]")),
        ({"description": "x" * 20_001}, (422, "invalid", "description")),
        ({"specs": [{"label": "", "value": "x"}]}, (422, "invalid", "specs[0].label")),
        ({"colour": "red"}, (422, "invalid", "colour")),
    ]
    for body, expected in cases:
        answer = await client.patch(f"/api/v1/products/{pid}", json=body, headers=ADMIN)
        assert error(answer) == expected, (body, answer.text)
    broken = await client.patch(
        f"/api/v1/products/{pid}",
        content=b"{not json",
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert error(broken)[:2] == (400, "malformed_json")
    missing = await client.patch("/api/v1/products/prd_nope", json={"name": "x"}, headers=ADMIN)
    assert error(missing)[:2] == (404, "not_found")
    anonymous = await client.patch(f"/api/v1/products/{pid}", json={"name": "x"})
    assert error(anonymous)[:2] == (401, "unauthorized")
    # nothing of the refused edits landed, and a name and price change is fine
    assert (await client.get(f"/api/v1/products/{pid}", headers=ADMIN)).json() == product
    fine = await client.patch(
        f"/api/v1/products/{pid}",
        json={"skus": [sku("A", 9900), sku("B", 100)]},
        headers=ADMIN,
    )
    assert fine.status_code == 200, fine.text
    dollars = await client.patch(
        f"/api/v1/products/{pid}",
        json={"skus": [sku("A", 9900), sku("B", 100, "USD")]},  # B is in no launch, A is
        headers=ADMIN,
    )
    assert error(dollars)[::2] == (422, "skus[1].currency")


async def test_image_uploads_are_checked(shop: tuple[Platform, httpx.AsyncClient]) -> None:
    _, client = shop
    pid = (await api_product(client))["id"]
    url = f"/api/v1/products/{pid}/images"
    fake = await client.post(
        url, files={"image": ("cat.jpg", b"<svg onload=alert(1)>", "image/jpeg")}, headers=ADMIN
    )
    assert error(fake) == (422, "not_an_image", "image")
    big = b"\xff\xd8" + b"\0" * (15 * 1024 * 1024)
    too_big = await client.post(url, files={"image": ("big.jpg", big, "image/jpeg")}, headers=ADMIN)
    assert error(too_big) == (422, "image_too_large", "image")
    huge = await client.post(
        url, files={"image": ("huge.jpg", big + big, "image/jpeg")}, headers=ADMIN
    )
    assert error(huge)[:2] == (413, "payload_too_large")  # refused before it is read
    not_multipart = await client.post(url, json={"image": "x"}, headers=ADMIN)
    assert error(not_multipart)[:2] == (422, "invalid")
    elsewhere = await client.post(
        "/api/v1/products", content=b"x" * 70_000, headers={**ADMIN, "content-type": "text/plain"}
    )
    assert error(elsewhere)[:2] == (413, "payload_too_large")  # the larger limit is for images
    anonymous = await client.post(  # a large body only from who could be the maker
        url, files={"image": ("photo.jpg", b"x" * 200_000, "image/jpeg")}
    )
    assert error(anonymous)[:2] == (413, "payload_too_large")
    for path in ("/admin/products", "/admin/shop"):
        forged = await client.post(path, content=b"x" * 200_000, headers={"content-type": "a/b"})
        assert forged.status_code == 413, path
    # credentials that are not the maker's are checked before the body is read: a forged
    # token or admin cookie may not make the server read 16 MB to refuse it afterwards
    picture = {"image": ("photo.jpg", b"x" * 200_000, "image/jpeg")}
    nope = {"authorization": "Bearer nope"}
    not_the_token = await client.post(url, files=picture, headers=nope)
    assert error(not_the_token)[:2] == (413, "payload_too_large")
    fan = await client.post("/api/v1/fans", json={"email": "f@fans.test", "name": "F"})
    a_fans_token = {"authorization": f"Bearer {fan.json()['token']}"}
    assert error(await client.post(url, files=picture, headers=a_fans_token))[:2] == (
        413,
        "payload_too_large",
    )
    for path in ("/admin/products", "/admin/shop"):
        forged = await client.post(
            path, content=b"x" * 200_000, headers={"cookie": "soldout_admin=nope"}
        )
        assert forged.status_code == 413, path
    product = (await client.get(f"/api/v1/products/{pid}", headers=ADMIN)).json()
    assert product["images"] == []


async def test_images_are_ordered_removed_and_stored_once(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    pid = (await api_product(client))["id"]
    url = f"/api/v1/products/{pid}/images"
    ids = []
    for colour in ("red", "green", "blue"):
        added = await client.post(
            url,
            files={"image": (f"{colour}.png", photo(200, 100, "PNG", colour), "image/png")},
            headers=ADMIN,
        )
        ids.append(added.headers["location"].removeprefix("/media/"))
    same = await client.post(
        url,
        files={"image": ("again.png", photo(200, 100, "PNG", "red"), "image/png")},
        headers=ADMIN,
    )
    assert same.status_code == 201
    assert [i["id"] for i in same.json()["images"]] == ids
    assert len(platform.store.media.rows) == 3 * 4  # type: ignore[attr-defined]
    reordered = await client.patch(
        f"/api/v1/products/{pid}", json={"images": [ids[2], ids[0], ids[1]]}, headers=ADMIN
    )
    assert [i["id"] for i in reordered.json()["images"]] == [ids[2], ids[0], ids[1]]
    twice = await client.patch(
        f"/api/v1/products/{pid}", json={"images": [ids[0], ids[0]]}, headers=ADMIN
    )
    assert error(twice) == (422, "invalid", "images[1]")
    removed = await client.delete(f"{url}/{ids[0]}", headers=ADMIN)
    assert [i["id"] for i in removed.json()["images"]] == [ids[2], ids[1]]
    assert (await client.get(f"/media/{ids[0]}")).status_code == 200  # shared links still work
    gone = await client.delete(f"{url}/{ids[0]}", headers=ADMIN)
    assert error(gone) == (404, "not_found", "media_id")
    assert [e["action"] for e in (await audit(client))[:2]] == [
        "product.image.remove",
        "product.change",
    ]


async def test_a_new_price_applies_to_claims_made_after_it(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    pid = (await api_product(client))["id"]
    launch_id = await api_launch(platform, client, pid)

    async def claim(name: str) -> dict[str, Any]:
        fan = await client.post("/api/v1/fans", json={"email": f"{name}@f.test", "name": name})
        made = await client.post(
            f"/api/v1/launches/{launch_id}/claims",
            json={"sku": "A"},
            headers={"authorization": f"Bearer {fan.json()['token']}", "idempotency-key": name},
        )
        assert made.status_code == 201, made.text
        result: dict[str, Any] = made.json()
        return result

    before = await claim("early")
    assert before["unit_price"] == 12900
    skus = [
        {"code": "A", "name": "Black, new name", "price": 15900, "currency": "EUR"},
        {"code": "B", "name": "White", "price": 13900, "currency": "EUR"},
    ]
    await client.patch(f"/api/v1/products/{pid}", json={"skus": skus}, headers=ADMIN)
    page = (await client.get(f"/api/v1/launches/{launch_id}")).json()
    assert [(s["code"], s["name"], s["price"]) for s in page["skus"]] == [
        ("A", "Black, new name", 15900)
    ]
    after = await claim("late")
    assert after["unit_price"] == 15900
    kept = platform.engine.ledger.by_id(before["id"])
    assert (kept.unit_price, kept.total_amount) == (12900, 12900)


async def test_an_edit_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    clock = FakeClock()
    platform, client = await _running(SqliteStore(tmp_path / "soldout.db"), clock)
    async with client:
        pid = (await api_product(client))["id"]
        added = await client.post(
            f"/api/v1/products/{pid}/images",
            files={"image": ("a.png", photo(kind="PNG"), "image/png")},
            headers=ADMIN,
        )
        media_id = added.headers["location"].removeprefix("/media/")
        await client.patch(
            f"/api/v1/products/{pid}",
            json={"specs": [{"label": "Size", "value": "M"}], "description": "**new**"},
            headers=ADMIN,
        )
        first = (await client.get(f"/api/v1/products/{pid}", headers=ADMIN)).json()
    await platform.stop()
    platform, client = await _running(SqliteStore(tmp_path / "soldout.db"), clock)
    async with client:
        assert (await client.get(f"/api/v1/products/{pid}", headers=ADMIN)).json() == first
        served = await client.get(f"/media/{media_id}-480")
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/webp"
    await platform.stop()


# -- the admin's forms -------------------------------------------------------------------
async def signed_in(client: httpx.AsyncClient) -> str:
    answer = await client.post("/admin/signin", data={"token": "adm"})
    assert answer.status_code == 303
    page = await client.get("/admin/products/new")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:300]
    return found.group(1)


def ten_sizes(csrf: str) -> dict[str, str]:
    form = {"csrf": csrf, "action": "save", "name": "Runner", "description": "# Fast\n\nLight."}
    for i, size in enumerate(range(38, 48)):
        form |= {
            f"sku{i}_code": f"RUN-{size}",
            f"sku{i}_name": f"EU {size}",
            f"sku{i}_price": "129.00" if size < 45 else "70",
            f"sku{i}_cost": "41,50",
            f"sku{i}_currency": "EUR",
        }
    return form | {
        "spec0_label": "Weight",
        "spec0_value": "240 g",
        "spec1_label": "",
        "spec1_value": "",
    }


async def test_the_form_makes_a_product_with_ten_skus_decimal_prices_and_an_image(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    csrf = await signed_in(client)
    made = await client.post(
        "/admin/products",
        data=ten_sizes(csrf),
        files={"images": ("shoe.jpg", photo(), "image/jpeg")},
    )
    assert made.status_code == 303, made.text
    assert made.headers["location"].startswith("/admin/launches/new?product_id=prd_")
    [product] = await platform.store.products.all()
    assert len(product.skus) == 10
    assert product.skus[0].price == Money(12900, "EUR")
    assert product.skus[0].name == "EU 38"
    assert product.skus[9].price == Money(7000, "EUR")  # "70" is 70 euros
    assert product.skus[0].cost == Money(4150, "EUR")  # "41,50"
    assert product.specs == (("Weight", "240 g"),)
    assert len(product.images) == 1
    entry = (await audit(client))[0]
    assert (entry["action"], entry["subject"]) == ("product.create", product.id)

    page = await client.get(f"/admin/products/{product.id}")
    assert page.status_code == 200
    assert 'name="sku0_price" class="money" aria-label="SKU 1 price"' in page.text
    assert 'value="129.00"' in page.text
    assert 'value="70.00"' in page.text
    assert 'value="41.50"' in page.text
    assert f'src="/media/{product.images[0]}-480"' in page.text
    assert "<h2>Fast</h2>" in page.text  # the description's preview
    listed = await client.get("/admin/products")
    assert "Runner" in listed.text
    assert "EUR 70.00 \N{EN DASH} 129.00" in listed.text
    assert f'<img src="/media/{product.images[0]}-480"' in listed.text


async def test_a_mistake_in_the_form_is_answered_in_words_and_keeps_what_was_typed(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    csrf = await signed_in(client)
    form = ten_sizes(csrf) | {"sku2_price": "12.345"}
    answer = await client.post("/admin/products", data=form)
    assert answer.status_code == 400
    assert "SKU RUN-40: price: &#39;12.345&#39; has 3 digits after the decimal mark" in answer.text
    assert "EUR has 2 decimals" in answer.text
    assert "(sku2_price)" in answer.text
    assert 'value="12.345" aria-invalid="true"' in answer.text
    assert 'value="RUN-47"' in answer.text  # every row is still there
    jpy = await client.post(
        "/admin/products", data=ten_sizes(csrf) | {"sku0_currency": "jpy", "sku0_price": "10.5"}
    )
    assert jpy.status_code == 400
    assert "JPY has no decimals" in jpy.text
    nameless = await client.post("/admin/products", data=ten_sizes(csrf) | {"sku3_code": ""})
    assert nameless.status_code == 400
    assert "(sku3_code)" in nameless.text
    twice = await client.post("/admin/products", data=ten_sizes(csrf) | {"sku5_code": "RUN-38"})
    assert twice.status_code == 400
    assert "appears twice" in twice.text
    assert "(sku5_code)" in twice.text
    free = await client.post("/admin/products", data=ten_sizes(csrf) | {"sku4_price": "0.00"})
    assert free.status_code == 400
    assert "a price must be more than 0" in free.text
    assert "(sku4_price)" in free.text
    spec = await client.post("/admin/products", data=ten_sizes(csrf) | {"spec1_label": "Sole"})
    assert spec.status_code == 400
    assert "(spec1_value)" in spec.text
    fake = await client.post(
        "/admin/products",
        data=ten_sizes(csrf),
        files={"images": ("notes.jpg", b"hello", "image/jpeg")},
    )
    assert fake.status_code == 400
    assert "notes.jpg: this file is not an image" in fake.text
    assert "choose them again" in fake.text
    assert await platform.store.products.all() == []


async def test_the_form_refuses_skus_in_two_currencies_beside_the_field(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    csrf = await signed_in(client)
    answer = await client.post("/admin/products", data=ten_sizes(csrf) | {"sku7_currency": "USD"})
    assert answer.status_code == 400
    assert "SKU RUN-45 is in USD, the first SKU in EUR" in answer.text
    assert "(sku7_currency)" in answer.text
    assert re.search(r'name="sku7_currency"[^>]*value="USD" aria-invalid="true"', answer.text)
    assert 'value="RUN-47"' in answer.text  # every row is still there
    assert await platform.store.products.all() == []
    product = await api_product(client)
    edit = {
        "csrf": csrf, "name": "Desk Lamp",
        "sku0_code": "A", "sku0_price": "129", "sku0_currency": "EUR",
        "sku1_code": "B", "sku1_price": "139", "sku1_currency": "EUR",
        "sku2_code": "C", "sku2_price": "70", "sku2_currency": "GBP",
    }  # fmt: skip
    added = await client.post(f"/admin/products/{product['id']}", data=edit)
    assert added.status_code == 400
    assert "(sku2_currency)" in added.text
    assert len((await platform.catalog.product(product["id"])).skus) == 2


async def test_more_rows_and_the_preview_work_without_the_script_and_save_nothing(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    csrf = await signed_in(client)
    more = await client.post("/admin/products", data=ten_sizes(csrf) | {"action": "more_skus"})
    assert more.status_code == 200
    assert 'aria-label="SKU 15 code"' in more.text
    assert 'value="RUN-47"' in more.text
    assert 'name="sku14_currency"' in more.text
    preview = await client.post(
        "/admin/products",
        data=ten_sizes(csrf) | {"action": "preview", "description": "**bold** <script>x</script>"},
    )
    assert "<strong>bold</strong> &lt;script&gt;x&lt;/script&gt;" in preview.text
    live = await client.post(
        "/admin/products/preview", data={"csrf": csrf, "description": "[x](javascript:alert(1))"}
    )
    assert live.status_code == 200
    assert "href" not in live.text
    assert live.headers["content-security-policy"].startswith("default-src 'self'")
    assert await platform.store.products.all() == []


async def test_editing_keeps_skus_in_a_launch_and_reprices(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    csrf = await signed_in(client)
    product = await api_product(client)
    pid = product["id"]
    await api_launch(platform, client, pid)
    page = await client.get(f"/admin/products/{pid}")
    assert "In First batch" in page.text  # SKU A is locked
    assert re.search(r'name="sku0_code"[^>]*readonly', page.text)
    assert re.search(r'name="sku0_currency"[^>]*readonly', page.text)
    assert 'name="sku1_remove"' in page.text
    assert 'name="sku0_remove"' not in page.text
    base = {
        "csrf": csrf,
        "name": "Desk Lamp",
        "sku0_code": "A", "sku0_name": "Black", "sku0_price": "1.299,00", "sku0_currency": "EUR",
        "sku1_code": "B", "sku1_name": "White", "sku1_price": "139", "sku1_currency": "EUR",
        "sku2_code": "", "sku2_currency": "EUR",
    }  # fmt: skip
    dropped = await client.post(f"/admin/products/{pid}", data=base | {"sku0_remove": "1"})
    assert dropped.status_code == 400
    assert "SKU A is in the launch &#39;First batch&#39;, so it cannot be removed" in dropped.text
    other = await client.post(f"/admin/products/{pid}", data=base | {"sku0_currency": "USD"})
    assert other.status_code == 400
    assert "(sku0_currency)" in other.text
    assert (await platform.catalog.product(pid)).skus[0].price == Money(12900, "EUR")
    saved = await client.post(
        f"/admin/products/{pid}",
        data=base
        | {"sku1_remove": "1", "sku5_code": "C", "sku5_price": "70", "sku5_currency": "EUR"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/products/{pid}?done=saved"
    after = await platform.catalog.product(pid)
    assert [(s.code, s.price.amount) for s in after.skus] == [("A", 129900), ("C", 7000)]
    assert platform.engine.books()[0].product.sku("A").price.amount == 129900  # type: ignore[union-attr]
    assert "Product saved." in (await client.get(saved.headers["location"])).text
    entry = (await audit(client))[0]
    assert entry["action"] == "product.change"
    assert entry["detail"]["skus_removed"] == ["B"]
    assert entry["detail"]["skus_added"] == ["C"]


async def test_the_form_reorders_and_removes_images(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    csrf = await signed_in(client)
    pid = (await api_product(client))["id"]
    for colour in ("red", "blue"):
        await client.post(
            f"/api/v1/products/{pid}/images",
            files={"image": ("x.png", photo(300, 200, "PNG", colour), "image/png")},
            headers=ADMIN,
        )
    red, blue = (await platform.catalog.product(pid)).images
    base = {
        "csrf": csrf, "name": "Desk Lamp",
        "sku0_code": "A", "sku0_price": "129.00", "sku0_currency": "EUR",
        "image0_id": red, "image0_position": "2", "image1_id": blue, "image1_position": "1",
    }  # fmt: skip
    answer = await client.post(
        f"/admin/products/{pid}",
        data=base,
        files={"images": ("g.png", photo(300, 200, "PNG", "green"), "image/png")},
    )
    assert answer.status_code == 303, answer.text
    images = (await platform.catalog.product(pid)).images
    assert images[:2] == (blue, red)
    assert len(images) == 3
    answer = await client.post(f"/admin/products/{pid}", data=base | {"image1_remove": "1"})
    assert (await platform.catalog.product(pid)).images == (red,)


async def test_the_product_list_hides_rehearsal_products_until_asked(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    await signed_in(client)
    await api_product(client)
    sku = Sku("R", "R", Money(100, "JPY"), Money(0, "JPY"))
    made = Product(
        "prd_rehearsed", "Rehearsal Widget", "", (sku,), platform.clock.now(), rehearsal="run1"
    )
    await platform.store.products.add(made)
    page = await client.get("/admin/products")
    assert "Desk Lamp" in page.text
    assert "Rehearsal Widget" not in page.text
    assert "1 product made by rehearsals is hidden" in page.text
    shown = await client.get("/admin/products?rehearsal=1")
    assert "Rehearsal Widget" in shown.text
    assert ">rehearsal</span>" in shown.text
    assert "JPY 100" in shown.text
    assert "EUR 129.00 \N{EN DASH} 139.00" in shown.text


async def test_product_forms_need_the_admin_and_their_own_page(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    pid = (await api_product(client))["id"]
    for path in ("/admin/products", "/admin/products/new", f"/admin/products/{pid}", "/admin/shop"):
        answer = await client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/signin")
    csrf = await signed_in(client)
    form = ten_sizes(csrf)
    assert (await client.post("/admin/products", data=form | {"csrf": "0" * 64})).status_code == 403
    forged = await client.post(
        "/admin/products", data=form, headers={"origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    multipart_forged = await client.post(
        f"/admin/products/{pid}",
        data=form | {"csrf": "x"},
        files={"images": ("a.png", photo(kind="PNG"), "image/png")},
    )
    assert multipart_forged.status_code == 403
    assert (await client.get("/admin/products/prd_missing")).status_code == 404
    assert len(await platform.store.products.all()) == 1


# -- the shop's look -----------------------------------------------------------------------
async def test_the_shop_gets_a_name_accent_and_logo_and_favicons_from_it(
    shop: tuple[Platform, httpx.AsyncClient],
) -> None:
    platform, client = shop
    csrf = await signed_in(client)
    default = await client.get("/favicon.ico")
    assert default.status_code == 200
    assert default.headers["content-type"] == "image/x-icon"
    assert default.headers["cache-control"] == "public, max-age=86400"
    assert Image.open(io.BytesIO(default.content)).format == "ICO"
    assert (
        await client.get("/favicon.ico", headers={"if-none-match": default.headers["etag"]})
    ).status_code == 304

    bad = await client.post("/admin/shop", data={"csrf": csrf, "name": "Lumen", "accent": "teal"})
    assert bad.status_code == 422  # as the API answers a value it refuses
    assert "(accent)" in bad.text
    assert 'value="Lumen"' in bad.text
    assert (await platform.store.shop.get()).name == "soldout"

    logo = io.BytesIO()
    Image.new("RGBA", (512, 256), (200, 40, 40, 255)).save(logo, "PNG")
    saved = await client.post(
        "/admin/shop",
        data={"csrf": csrf, "name": "Lumen", "tagline": "Lamps, slowly", "accent": "#FFCC00"},
        files={"logo": ("logo.png", logo.getvalue(), "image/png")},
    )
    assert saved.status_code == 303, saved.text
    look = await platform.store.shop.get()
    assert (look.name, look.tagline, look.accent) == ("Lumen", "Lamps, slowly", "#ffcc00")
    assert look.logo is not None
    assert look.accent_ink == "#000000"
    # links and words in the accent on the white page: yellow would not read, so darker
    text = look.accent_text
    assert contrast_on_white(text) >= 4.5 > contrast_on_white(look.accent)
    assert int(text[1:3], 16) > int(text[5:7], 16)  # still a yellow-brown, not grey
    page = await client.get(saved.headers["location"])
    assert "Shop saved." in page.text
    assert f"/media/{look.logo}-480" in page.text
    css = await client.get("/shop.css")
    assert "--accent: #ffcc00; --accent-ink: #000000;" in css.text
    assert f"--accent-text: {text};" in css.text
    assert css.headers["content-type"].startswith("text/css")
    icon = await client.get("/favicon.ico")
    assert icon.content != default.content
    assert icon.content == (await client.get(f"/media/{look.logo}-icon.ico")).content
    touch = await client.get("/apple-touch-icon.png")
    assert Image.open(io.BytesIO(touch.content)).size == (180, 180)
    assert Image.open(io.BytesIO((await client.get("/favicon.png")).content)).size == (192, 192)
    entry = (await audit(client))[0]
    assert (entry["action"], entry["detail"]["accent"]) == ("shop.change", "#ffcc00")

    removed = await client.post(
        "/admin/shop",
        data={
            "csrf": csrf,
            "name": "Lumen",
            "tagline": "",
            "accent": "#ffcc00",
            "remove_logo": "1",
        },
    )
    assert removed.status_code == 303
    assert (await platform.store.shop.get()).logo is None
    assert (await client.get("/favicon.ico")).content != icon.content
    fake = await client.post(
        "/admin/shop",
        data={"csrf": csrf, "name": "Lumen", "accent": "#ffcc00"},
        files={"logo": ("logo.png", b"GIF89a nope", "image/png")},
    )
    assert fake.status_code == 422
    assert "logo.png: this file is not an image" in fake.text


def contrast_on_white(colour: str) -> float:
    """WCAG contrast of `#rrggbb` text on white, computed here from the definition."""
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 1.05 / (0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] + 0.05)


async def test_the_scale_out_owner_checks_an_uploaders_credentials_too() -> None:
    """The owner of several workers (whose app awaits its catching up before each request)
    checks the maker's credentials before an upload's body is read, as one process does."""
    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "adm"), clock=FakeClock())
    await platform.start(sweep=False)

    async def caught_up() -> None:
        return None

    transport = httpx.ASGITransport(app=build_app(platform, before=caught_up))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            pid = (await api_product(client))["id"]
            url = f"/api/v1/products/{pid}/images"
            picture = {"image": ("photo.jpg", b"x" * 200_000, "image/jpeg")}
            forged = await client.post(url, files=picture, headers={"authorization": "Bearer x"})
            assert error(forged)[:2] == (413, "payload_too_large")
            real = await client.post(url, files=picture, headers=ADMIN)
            assert error(real)[:2] == (422, "not_an_image")  # read whole, then checked
    finally:
        await platform.stop()
