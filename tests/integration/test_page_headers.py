"""Every HTML page carries the same protective headers, the storefront's as the admin's:
a content security policy that forbids framing, no type sniffing, `X-Frame-Options` for
browsers that predate `frame-ancestors`. Whether the storefront's policy fits its own
scripts, styles and worker is proven in a browser (tests/browser/test_storefront.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from soldout.api.app import build_app
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.support import join_in_process

ADMIN = "adm_in_process_token_for_headers"
ORIGIN = "http://shop.test"


@pytest.fixture
async def shop() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A browser on an in-process shop, and the paths of its pages to look at."""
    platform = Platform(InMemoryStore(), TokenSigner(b"h" * 32, ADMIN), public_url=ORIGIN)
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    admin = {"authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as browser:
        skus = [{"code": "A", "name": "Model One", "price": 19900, "currency": "EUR"}]
        product = await browser.post(
            "/api/v1/products", json={"name": "Model One", "skus": skus}, headers=admin
        )
        launch = await browser.post(
            "/api/v1/launches",
            json={
                "product_id": product.json()["id"],
                "title": "first round",
                "sale_opens_at": datetime.now(UTC).isoformat(),
                "batch": {"A": 5},
            },
            headers=admin,
        )
        assert launch.status_code == 201, launch.text
        browser.headers["origin"] = ORIGIN
        joined = await join_in_process(  # signed in as a browser is: the cookie it is given
            browser, platform, {"name": "Ann", "email": f"ann-{uuid.uuid4().hex}@fans.test"}
        )
        assert joined.status_code == 303, joined.text
        yield browser, {"launch": f"/launches/{launch.json()['id']}"}
    await platform.stop()


@pytest.mark.parametrize(
    "page",
    [
        "/",
        "launch",
        "/join",
        "/signin",
        "/me",
        "/me/address",
        "/me/delete",
        "/signin/not-a-token",  # refused in words
        "/launches/lch_nope",  # the storefront's own "not found"
        "/no/such/page",  # a path nothing answers
        "/admin/signin",
    ],
)
async def test_every_page_carries_the_protective_headers(
    shop: tuple[httpx.AsyncClient, dict[str, str]], page: str
) -> None:
    browser, paths = shop
    response = await browser.get(paths.get(page, page), headers={"accept": "text/html"})
    assert response.headers["content-type"].startswith("text/html"), response.status_code
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "base-uri 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_scripts_are_served_as_scripts_only(
    shop: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    browser, _ = shop
    for asset in (
        "/static/store/core.js",
        "/static/store/launch.js",
        "/static/store/claim.js",
        "/static/store-pow.js",
        "/static/store.css",
    ):
        response = await browser.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["x-content-type-options"] == "nosniff", asset
