"""A fan's ways in over HTTP, in-process (httpx over ASGI, a fake clock): the storefront's
cookie is a server-side session, bearer tokens expire and renew, "sign out everywhere"
ends every session and token (also on the claim hot path), sign-ups and link requests
are throttled per address, and sessions and spent sign-in links outlive a restart of a
SQLite store."""

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
from soldout.domain.notifications import Notification
from soldout.services import Platform
from soldout.services.passwords import FAST_FOR_TESTS, Passwords
from soldout.services.throttle import ThrottleSettings
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.ports import Store
from soldout.store.sqlite import SqliteStore
from tests.support import error, shipping_address

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

ADMIN = "adm_in_process_token_of_32_characters_at_least"
ORIGIN = "http://soldout.test"
WEB = {"x-soldout-web": "1"}


@dataclass
class Shop:
    platform: Platform
    clock: FakeClock
    transport: httpx.ASGITransport
    launch_id: str = ""

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.transport, base_url=ORIGIN, headers={"origin": ORIGIN}
        )

    async def claim(self, headers: dict[str, str]) -> httpx.Response:
        async with self.browser() as client:
            return await client.post(
                f"/api/v1/launches/{self.launch_id}/claims",
                json={"sku": "A"},
                headers={**headers, "idempotency-key": uuid.uuid4().hex},
            )


async def opened(store: Store, clock: FakeClock, signups: int = 20) -> Shop:
    platform = Platform(
        store,
        TokenSigner(None, ADMIN),
        clock=clock,
        passwords=Passwords(FAST_FOR_TESTS),
        throttle=ThrottleSettings(signups_per_address=signups),
    )
    await platform.start(sweep=False)
    return Shop(platform, clock, httpx.ASGITransport(app=build_app(platform)))


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    clock = FakeClock()
    shop = await opened(InMemoryStore(), clock, signups=0)
    admin = {"authorization": f"Bearer {ADMIN}"}
    async with shop.browser() as client:
        skus = [{"code": "A", "name": "A", "price": 1000, "currency": "EUR"}]
        product = await client.post(
            "/api/v1/products", headers=admin, json={"name": "Lamp", "skus": skus}
        )
        assert product.status_code == 201, product.text
        launch = await client.post(
            "/api/v1/launches",
            headers=admin,
            json={
                "product_id": product.json()["id"],
                "title": "First batch",
                "sale_opens_at": (clock.now() - timedelta(seconds=1)).isoformat(),
                "batch": {"A": 50},
                "per_fan_limit": 50,
                "race": "fast",
            },
        )
        assert launch.status_code == 201, launch.text
        shop.launch_id = launch.json()["id"]
    yield shop
    await shop.platform.stop()


async def join(shop: Shop, browser: httpx.AsyncClient) -> str:
    """Join through the storefront's form and sign in by the link it mails, a minute
    before the next link may be asked for; returns the e-mail."""
    email = f"{uuid.uuid4().hex[:10]}@fans.test"
    joined = await browser.post("/join", data={"email": email, "name": "Ann"})
    assert joined.status_code == 200, joined.text
    assert (await browser.post(await mailed(shop, email))).status_code == 303
    shop.clock.advance(60)  # (one sign-in link a minute per address)
    return email


async def mailed(shop: Shop, email: str, reason: str | None = None) -> str:
    """The path of the newest sign-in link mailed to `email` (of that `reason`)."""
    links = await links_to(shop, email)
    assert links, email
    assert links[0].data.get("reason") == reason or reason is None, links[0].data
    path: str = links[0].data["path"]
    return path


async def links_to(shop: Shop, email: str) -> list[Notification]:
    """The sign-in links mailed to `email`, newest first."""
    fan = await shop.platform.store.fans.by_email(email)
    assert fan is not None
    notes = await shop.platform.store.notifications.for_fan(fan.id, 50)
    return [n for n in notes if n.kind == "sign_in_link"]


async def sign_in_link(shop: Shop, browser: httpx.AsyncClient, email: str) -> str:
    """Ask for a sign-in link, as a fan does; returns its path (as e-mailed)."""
    asked = await browser.post("/signin", data={"email": email})
    assert asked.status_code == 200, asked.text
    return await mailed(shop, email)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_sign_out_everywhere_ends_every_session_and_token(shop: Shop) -> None:
    async with shop.browser() as phone, shop.browser() as laptop, shop.browser() as api:
        email = await join(shop, phone)
        # the fan proves the address is theirs first (that sign-in ends what came before)
        assert (await phone.post(await sign_in_link(shop, phone, email))).status_code == 303
        shop.clock.advance(60)  # (one sign-in link a minute per address)
        session = phone.cookies["soldout_fan"]
        assert (await api.get("/api/v1/me", headers=bearer(session))).status_code == 401
        renewed = await phone.post("/api/v1/me/token", headers=WEB)
        assert renewed.status_code == 200, renewed.text
        token = renewed.json()["token"]
        assert (await api.get("/api/v1/me", headers=bearer(token))).status_code == 200
        link = await sign_in_link(shop, laptop, email)
        assert (await laptop.post(link)).status_code == 303
        assert laptop.cookies["soldout_fan"] != session  # a session per browser
        assert (await laptop.get("/me")).status_code == 200
        assert (await shop.claim({**WEB, "cookie": f"soldout_fan={session}"})).status_code == 201

        everywhere = await phone.post("/me/signout-everywhere")
        assert everywhere.status_code == 303
        for browser in (phone, laptop):
            browser.cookies.set("soldout_fan", browser.cookies.get("soldout_fan") or session)
            assert (await browser.get("/me")).status_code == 303
        assert (await api.get("/api/v1/me", headers=bearer(token))).status_code == 401
        assert (await shop.claim(bearer(token))).status_code == 401  # the hot path too
        cookie = {**WEB, "cookie": f"soldout_fan={session}"}
        assert (await shop.claim(cookie)).status_code == 401

        shop.clock.advance(60)  # (one sign-in link a minute per address)
        phone.cookies.clear()
        link = await sign_in_link(shop, phone, email)
        assert (await phone.post(link)).status_code == 303  # signing in again works
        assert (await phone.get("/me")).status_code == 200


async def test_an_account_opened_with_someone_elses_address_is_theirs_once_they_sign_in(
    shop: Shop,
) -> None:
    """Anyone may sign up with any address: the first sign-in by a link mailed to it
    proves whose it is, and ends every session and token made before (the one who opened
    the account without that mailbox keeps nothing); later links end nothing."""
    async with shop.browser() as carol, shop.browser() as api:
        email = f"carol-{uuid.uuid4().hex[:8]}@fans.test"
        made = await api.post("/api/v1/fans", json={"email": email, "name": "Carol"})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        assert (await api.get("/api/v1/me/shipping", headers=bearer(token))).status_code == 200
        # the link mailed to Carol is never shown to the account: whoever opened it cannot
        # use the link to prove the address is theirs
        asked = await api.post("/signin", data={"email": email}, headers={"origin": ORIGIN})
        assert asked.status_code == 200
        for read in ("/api/v1/me/notifications", "/api/v1/me/data"):
            seen = await api.get(read, headers=bearer(token))
            assert seen.status_code == 200, seen.text
            assert "/signin/" not in seen.text, read
            assert "sign_in_link" not in seen.text, read

        shop.clock.advance(60)
        assert (await carol.post(await sign_in_link(shop, carol, email))).status_code == 303
        put = await carol.put("/api/v1/me/shipping", json=shipping_address(), headers=WEB)
        assert put.status_code == 200, put.text
        for read in ("/api/v1/me", "/api/v1/me/shipping", "/api/v1/me/orders"):
            assert (await api.get(read, headers=bearer(token))).status_code == 401, read
        assert (await shop.claim(bearer(token))).status_code == 401
        assert (await carol.get("/me")).status_code == 200

        shop.clock.advance(60)  # a later link, on another browser, ends nothing
        async with shop.browser() as laptop:
            assert (await laptop.post(await sign_in_link(shop, laptop, email))).status_code == 303
        assert (await carol.get("/me")).status_code == 200


async def test_a_link_mailed_before_sign_out_everywhere_no_longer_signs_in(shop: Shop) -> None:
    async with shop.browser() as phone, shop.browser() as thief:
        email = await join(shop, phone)
        assert (await phone.post(await sign_in_link(shop, phone, email))).status_code == 303
        shop.clock.advance(60)
        stolen = await sign_in_link(shop, thief, email)  # mailed, then read by someone else
        assert (await thief.get(stolen)).status_code == 200  # (its page: nothing spent)
        assert (await phone.post("/me/signout-everywhere")).status_code == 303
        refused = await thief.post(stolen)
        assert refused.status_code == 400
        assert "does not work" in refused.text
        assert (await thief.get("/me")).status_code == 303  # not signed in


async def test_joining_with_an_address_that_has_an_account_answers_as_a_new_one(
    shop: Shop,
) -> None:
    """Nobody learns from the join form whether an address has an account: the same page,
    status and headers, no cookie either way; the new account gets its first link, the
    known address a sign-in link saying someone tried to join with it, within the same
    throttle as `/signin` (one link a minute). The API keeps its explicit 409."""
    known = f"known-{uuid.uuid4().hex[:8]}@fans.test"
    async with shop.browser() as api:
        made = await api.post("/api/v1/fans", json={"email": known, "name": "Kim"})
        assert made.status_code == 201, made.text
        assert error(await api.post("/api/v1/fans", json={"email": known, "name": "K"}))[:2] == (
            409,
            "email_taken",
        )
    fresh = f"fresh-{uuid.uuid4().hex[:8]}@fans.test"
    answers = {}
    for email in (fresh, known):
        async with shop.browser() as browser:
            form = {"email": email, "name": "Mallory", "next": "/me"}
            answers[email] = await browser.post("/join", data=form)
            assert "soldout_fan" not in browser.cookies
    assert {a.status_code for a in answers.values()} == {200}
    assert "Check your e-mail" in answers[known].text

    def shown(email: str) -> tuple[str, dict[str, str]]:
        answer = answers[email]
        headers = {k: v for k, v in answer.headers.items() if k not in ("x-request-id",)}
        return answer.text.replace(email, "ADDRESS"), headers

    assert shown(known) == shown(fresh)
    assert (await mailed(shop, fresh, "joined")).startswith("/signin/")
    again = await mailed(shop, known, "join_again")
    owner = await shop.platform.store.fans.by_email(known)
    assert owner is not None
    assert owner.name == "Kim"  # nothing of the form was kept
    async with shop.browser() as browser:
        assert (await browser.post("/join", data={"email": known, "name": ""})).status_code == 422
        asked = await browser.post("/join", data={"email": known, "name": "Kim"})
        assert asked.status_code == 200
        assert (await browser.post("/signin", data={"email": known})).status_code == 200
        assert len(await links_to(shop, known)) == 1  # (a minute's link was mailed)
        signed_in = await browser.post(again)
        assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/me")
    shop.clock.advance(60)
    async with shop.browser() as browser:
        assert (await browser.post("/join", data={"email": known, "name": "K"})).status_code == 200
    assert len(await links_to(shop, known)) == 2


async def test_a_bearer_token_expires_after_30_days_and_can_be_renewed(shop: Shop) -> None:
    async with shop.browser() as api:
        made = await api.post("/api/v1/fans", json={"email": "t@fans.test", "name": "T"})
        assert made.status_code == 201
        first = made.json()["token"]
        shop.clock.advance(timedelta(days=29).total_seconds())
        renewed = await api.post("/api/v1/me/token", headers=bearer(first))
        assert renewed.status_code == 200
        second = renewed.json()["token"]
        expires: Any = renewed.json()["token_expires_at"]
        assert expires == (shop.clock.now() + timedelta(days=30)).replace(microsecond=0).isoformat()
        shop.clock.advance(timedelta(days=1).total_seconds())
        assert (await api.get("/api/v1/me", headers=bearer(first))).status_code == 401
        assert (await shop.claim(bearer(first))).status_code == 401
        assert (await shop.claim(bearer(second))).status_code == 201
        out = await api.post("/api/v1/me/sign-out-everywhere", headers=bearer(second))
        assert out.status_code == 204
        assert (await api.get("/api/v1/me", headers=bearer(second))).status_code == 401


async def test_sign_ups_and_link_requests_are_throttled_per_address() -> None:
    shop = await opened(InMemoryStore(), FakeClock(), signups=3)
    try:
        async with shop.browser() as client:
            for i in range(2):
                body = {"email": f"f{i}@fans.test", "name": "F"}
                assert (await client.post("/api/v1/fans", json=body)).status_code == 201
            assert (await client.post("/signin", data={"email": "f0@fans.test"})).status_code == 200
            again = await client.post("/api/v1/fans", json={"email": "f9@fans.test", "name": "F"})
            assert again.status_code == 429
            assert again.json()["error"]["code"] == "rate_limited"
            assert int(again.headers["retry-after"]) == 30
            page = await client.post("/join", data={"email": "f8@fans.test", "name": "F"})
            assert page.status_code == 429
            assert "Too many tries from your network" in page.text
            link = await client.post("/signin", data={"email": "f0@fans.test"})
            assert link.status_code == 429
            shop.clock.advance(30)
            assert (await client.post("/join", data={"email": "f8@fans.test"})).status_code == 422
    finally:
        await shop.platform.stop()


async def test_sessions_and_spent_links_outlive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    database = tmp_path / "soldout.db"
    shop = await opened(SqliteStore(database), clock)
    async with shop.browser() as admin, shop.browser() as fan:
        assert (await admin.post("/admin/signin", data={"token": ADMIN})).status_code == 303
        email = await join(shop, fan)
        spent = await sign_in_link(shop, fan, email)
        assert (await fan.post(spent)).status_code == 303
        admin_session, fan_session = admin.cookies["soldout_admin"], fan.cookies["soldout_fan"]
    await shop.platform.stop()

    shop = await opened(SqliteStore(database), clock)
    try:
        async with shop.browser() as admin, shop.browser() as fan, shop.browser() as other:
            admin.cookies.set("soldout_admin", admin_session)
            assert (await admin.get("/admin/launches")).status_code == 200
            fan.cookies.set("soldout_fan", fan_session)
            assert (await fan.get("/me")).status_code == 200
            refused = await other.post(spent)
            assert refused.status_code == 400  # a sign-in link works once, across restarts
            assert "already used" in refused.text
            assert (await fan.post("/signout")).status_code == 303
    finally:
        await shop.platform.stop()

    shop = await opened(SqliteStore(database), clock)
    try:
        async with shop.browser() as fan:
            fan.cookies.set("soldout_fan", fan_session)
            assert (await fan.get("/me")).status_code == 303  # signed out stays signed out
    finally:
        await shop.platform.stop()


async def test_a_session_cookie_given_twice_is_read_as_the_app_reads_it(shop: Shop) -> None:
    """A browser may hold the session cookie twice (two paths or domains). A payment in
    front of the app never reads another fan from it than the app does."""
    async with shop.browser() as bob_browser, shop.browser() as ann_browser:
        await join(shop, bob_browser)
        await join(shop, ann_browser)
        bob = bob_browser.cookies["soldout_fan"]
        ann = ann_browser.cookies["soldout_fan"]
        own = {**WEB, "cookie": f"soldout_fan={ann}"}
        address = await ann_browser.put("/api/v1/me/shipping", json=shipping_address(), headers=own)
        assert address.status_code == 200, address.text
        held = []
        for _ in range(2):
            made = await shop.claim(own)
            assert made.status_code == 201, made.text
            held.append(made.json()["id"])
    doubled = {
        **WEB,
        "cookie": f"soldout_fan={bob}; soldout_fan={ann}",
        "content-type": "application/json",
    }
    body = b'{"method": "test", "token": "tok_ok"}'
    answers = []
    for claim_id, transport in zip(
        held, (httpx.ASGITransport(app=shop.transport.app.app), shop.transport), strict=True
    ):  # the app alone first, then through the front path
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            paid = await client.post(
                f"/api/v1/claims/{claim_id}/payment",
                content=body,
                headers={**doubled, "idempotency-key": uuid.uuid4().hex},
            )
        answers.append((paid.status_code, paid.json().get("claim_id")))
    # the app reads the last (Starlette's parser); the front path hands it the request
    assert answers == [(200, held[0]), (200, held[1])], answers


async def test_the_admin_token_on_a_fans_call_is_named_as_such(shop: Shop) -> None:
    """It was told "not valid (expired, or signed out everywhere)", which it is not."""
    async with shop.browser() as api:
        for answer in (
            await api.get("/api/v1/me", headers=bearer(ADMIN)),
            await shop.claim(bearer(ADMIN)),  # the hot path too
        ):
            assert answer.status_code == 403  # valid, but not a fan's: no sign-in would help
            assert "the shop's admin token" in answer.json()["error"]["message"]
        stale = await api.get("/api/v1/me", headers=bearer("fan_x.0.1.not-signed"))
        assert stale.status_code == 401
        assert "not valid" in stale.json()["error"]["message"]
