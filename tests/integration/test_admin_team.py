"""The maker's team over HTTP, in-process (httpx over ASGI, a fake clock): the first owner
made from the bootstrap token, password sign-in, invites, roles enforced on every page
and form, the audit log naming the person, server-side admin sessions (ended by signing
out, a role change, a removal, a password change elsewhere, or 12 hours), changing one's
own password, `Secure` cookies over https or behind a trusted proxy, throttled failed
sign-ins, and a short admin token refused at start."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest

from soldout.api.app import build_app
from soldout.api.proxies import TrustedProxies
from soldout.clock import FakeClock
from soldout.services import Platform
from soldout.services.passwords import FAST_FOR_TESTS, Passwords
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.support import join_in_process

ADMIN = "adm_in_process_token_of_32_characters_at_least"
ORIGIN = "http://soldout.test"
PROXY = ("10.0.0.1", 4321)  # the peer every request comes from: a trusted proxy
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new battery staple"
BEARER = {"authorization": f"Bearer {ADMIN}"}


@dataclass
class Shop:
    platform: Platform
    clock: FakeClock
    transport: httpx.ASGITransport

    def browser(self, address: str = "203.0.113.1", origin: str = ORIGIN) -> httpx.AsyncClient:
        """A browser at `address` (told by the trusted proxy), posting from our origin."""
        return httpx.AsyncClient(
            transport=self.transport,
            base_url=origin,
            headers={"origin": origin, "x-forwarded-for": address},
        )


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    clock = FakeClock()
    platform = Platform(
        InMemoryStore(),
        TokenSigner(b"k" * 32, ADMIN),
        clock=clock,
        passwords=Passwords(FAST_FOR_TESTS),
    )
    await platform.start(sweep=False)
    app = build_app(platform, proxies=TrustedProxies.parse("10.0.0.0/8"))
    yield Shop(platform, clock, httpx.ASGITransport(app=app, client=PROXY))
    await platform.stop()


async def csrf(browser: httpx.AsyncClient, path: str = "/admin/team") -> str:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def admin_cookie(answer: httpx.Response) -> str:
    (cookie,) = [c for c in answer.headers.get_list("set-cookie") if c.startswith("soldout_admin=")]
    return cookie


async def with_token(browser: httpx.AsyncClient) -> httpx.Response:
    signed = await browser.post("/admin/signin", data={"token": ADMIN})
    assert signed.status_code == 303, signed.text
    return signed


async def make_owner(browser: httpx.AsyncClient) -> None:
    await with_token(browser)
    made = await browser.post(
        "/admin/team/owner",
        data={
            "csrf": await csrf(browser),
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "password": PASSWORD,
        },
    )
    assert made.status_code == 303, made.text
    assert made.headers["location"] == "/admin/team?done=owner"


async def invite(owner: httpx.AsyncClient, email: str, role: str) -> str:
    """The invite link's path, as the owner's page shows it once."""
    page = await owner.post(
        "/admin/team/invites", data={"csrf": await csrf(owner), "email": email, "role": role}
    )
    assert page.status_code == 200, page.text
    found = re.search(r'value="http://soldout\.test(/admin/invite/[^"]+)"', page.text)
    assert found, page.text
    return unescape(found.group(1))


@contextlib.asynccontextmanager
async def joined(
    shop: Shop, path: str, name: str, address: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser that opened the invite link, chose a password, and is signed in."""
    async with shop.browser(address) as browser:
        assert (await browser.get(path)).status_code == 200  # opening spends nothing
        answer = await browser.post(path, data={"name": name, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/admin/launches?done=joined"
        yield browser


async def test_the_token_makes_the_first_owner_who_then_signs_in_with_a_password(
    shop: Shop,
) -> None:
    async with shop.browser() as browser:
        signed = await with_token(browser)
        cookie = admin_cookie(signed)
        assert ADMIN not in cookie  # the cookie holds a session id, never the token
        assert "httponly" in cookie.lower()
        assert "samesite=strict" in cookie.lower()
        assert "secure" not in cookie.lower()  # plain http, from a proxy that said nothing
        page = await browser.get("/admin/launches")
        assert 'id="needs-owner"' in page.text
        weak = await browser.post(
            "/admin/team/owner",
            data={"csrf": await csrf(browser), "email": "ada@example.com", "name": "Ada"},
        )
        assert weak.status_code == 400
        assert "at least 12 characters" in weak.text
        assert (
            'id="owner-email" name="email" type="email" required autocomplete="username"'
            ' value="ada@example.com"' in weak.text
        )  # kept where it was typed,
        assert 'id="invite-email" name="email" type="email" required value=""' in weak.text
        token_session = browser.cookies["soldout_admin"]
        await make_owner(browser)
        assert browser.cookies["soldout_admin"] != token_session
        team = await browser.get("/admin/team")
        assert "Ada Lovelace (you)" in team.text
        assert 'id="needs-owner"' not in team.text
        assert "Signed in as Ada Lovelace &lt;ada@example.com&gt; (Owner)" in team.text
        made = await browser.post(
            "/admin/products",
            data={
                "csrf": await csrf(browser),
                "name": "Owner's lamp",
                "sku0_code": "L",
                "sku0_price": "10",
                "sku0_currency": "EUR",
            },
        )
        assert made.status_code == 303, made.text
    async with shop.browser() as stale:  # the token's session ended when the owner was made
        stale.cookies.set("soldout_admin", token_session)
        assert (await stale.get("/admin/launches")).status_code == 303

    async with shop.browser() as browser:
        wrong = await browser.post(
            "/admin/signin", data={"email": "ada@example.com", "password": "not the password"}
        )
        assert wrong.status_code == 401
        assert "That e-mail and password do not match an account." in wrong.text
        assert "set-cookie" not in wrong.headers
        right = await browser.post(
            "/admin/signin",
            data={"email": "ADA@example.com", "password": PASSWORD, "next": "/admin/audit"},
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/admin/audit"
        log = await browser.get("/admin/audit")
        assert "product.create" in log.text
        assert "Ada Lovelace &lt;ada@example.com&gt;" in log.text

    async with shop.browser() as api:  # the bootstrap token still works for the API ...
        audit = (await api.get("/api/v1/audit", headers=BEARER)).json()
        assert [(e["action"], e["actor"]) for e in audit[:2]] == [
            ("product.create", "Ada Lovelace <ada@example.com>"),
            ("team.owner", shop.platform.tokens.admin_actor),
        ]
        await with_token(api)  # ... and as the way back in


async def test_roles_decide_who_may_change_what(shop: Shop) -> None:
    async with shop.browser() as owner:
        await make_owner(owner)
        viewer_link = await invite(owner, "rita@example.com", "read_only")
        staff_link = await invite(owner, "sam@example.com", "staff")
        assert "rita@example.com (Read-only)" in (await owner.get("/admin/team")).text

        async with joined(shop, viewer_link, "Rita", "203.0.113.2") as viewer:
            again = await shop.browser("203.0.113.3").post(
                viewer_link, data={"name": "Mallory", "password": PASSWORD}
            )
            assert again.status_code == 404  # an invite works once, and says what to do
            spent = await shop.browser("203.0.113.3").get(viewer_link)
            for answer in (again, spent):
                assert "This invite link no longer works" in answer.text
                assert 'href="/admin/signin"' in answer.text
            for path in ("/admin/launches", "/admin/orders", "/admin/audit", "/admin/team"):
                page = await viewer.get(path)
                assert page.status_code == 200, path
                assert "(Read-only): you can look, not change" in page.text
            token = await csrf(viewer, "/admin/products/new")
            refused = await viewer.post(
                "/admin/products",
                data={"csrf": token, "name": "Nope", "sku0_code": "N", "sku0_price": "1"},
            )
            assert refused.status_code == 403
            assert "Your role (Read-only) may not do this" in refused.text
            assert [p.name for p in await shop.platform.store.products.all()] == []
            no_invite = await viewer.post(
                "/admin/team/invites", data={"csrf": token, "email": "x@example.com"}
            )
            assert no_invite.status_code == 403
            no_tracking = await viewer.post(
                "/admin/orders/ord_any/tracking",
                data={"csrf": token, "carrier": "DHL", "tracking_number": "JD1"},
            )
            assert no_tracking.status_code == 403  # who may not ship may not set tracking
            signed_out = await viewer.post("/admin/signout", data={"csrf": token})
            assert signed_out.status_code == 303  # signing out is no change: read-only may

        async with joined(shop, staff_link, "Sam", "203.0.113.4") as staff:
            token = await csrf(staff, "/admin/products/new")
            made = await staff.post(
                "/admin/products",
                data={
                    "csrf": token,
                    "name": "Staff lamp",
                    "sku0_code": "S",
                    "sku0_price": "1",
                    "sku0_currency": "EUR",
                },
            )
            assert made.status_code == 303, made.text
            staff_invite = await staff.post(
                "/admin/team/invites", data={"csrf": token, "email": "x@example.com"}
            )
            assert staff_invite.status_code == 403
            assert "only an owner may change the team" in staff_invite.text
            sam = next(a for a in shop.platform.team.accounts() if a.name == "Sam")
            changed = await owner.post(
                f"/admin/team/{sam.id}/role",
                data={"csrf": await csrf(owner), "role": "read_only"},
            )
            assert changed.status_code == 303
            assert (await staff.get("/admin/launches")).status_code == 303  # signed out
        (entry, *_) = await shop.platform.store.audit.recent(5)
        assert (entry.action, entry.actor) == ("team.role", "Ada Lovelace <ada@example.com>")
        assert entry.detail == {"email": "sam@example.com", "from": "staff", "to": "read_only"}
        removed = await owner.post(f"/admin/team/{sam.id}/remove", data={"csrf": await csrf(owner)})
        assert removed.status_code == 303
        ada = next(a for a in shop.platform.team.accounts() if a.name == "Ada Lovelace")
        last = await owner.post(f"/admin/team/{ada.id}/remove", data={"csrf": await csrf(owner)})
        assert last.status_code == 400
        assert "only owner" in last.text


async def test_an_admin_session_ends_on_sign_out_and_after_12_hours(shop: Shop) -> None:
    async with shop.browser() as browser:
        await with_token(browser)
        session = browser.cookies["soldout_admin"]
        signed_out = await browser.post("/admin/signout", data={"csrf": await csrf(browser)})
        assert signed_out.status_code == 303
    async with shop.browser() as replay:
        replay.cookies.set("soldout_admin", session)  # a copy kept from before
        assert (await replay.get("/admin/launches")).status_code == 303
        replay.cookies.set("soldout_admin", ADMIN)  # the token itself is no cookie
        assert (await replay.get("/admin/launches")).status_code == 303
        await with_token(replay)
        assert (await replay.get("/admin/launches")).status_code == 200
        shop.clock.advance(timedelta(hours=12).total_seconds())
        expired = await replay.get("/admin/launches")
        assert expired.status_code == 303
        assert expired.headers["location"].startswith("/admin/signin")


async def test_cookies_are_secure_over_https_and_from_a_trusted_proxy_only(shop: Shop) -> None:
    https = "https://soldout.test"
    async with shop.browser(origin=https) as direct:
        assert "secure" in admin_cookie(await with_token(direct)).lower()
        joined = await join_in_process(direct, shop.platform, {"email": "s@fans.test", "name": "S"})
        assert joined.status_code == 303, joined.text
        assert "secure" in joined.headers["set-cookie"].lower()
    async with shop.browser() as proxied:  # the trusted proxy ended TLS
        proxied.headers["x-forwarded-proto"] = "https"
        assert "secure" in admin_cookie(await with_token(proxied)).lower()
    untrusted = httpx.ASGITransport(app=shop.transport.app, client=("192.0.2.50", 1))
    async with httpx.AsyncClient(
        transport=untrusted,
        base_url=ORIGIN,
        headers={"origin": ORIGIN, "x-forwarded-proto": "https", "x-forwarded-for": "1.2.3.4"},
    ) as spoofed:
        assert "secure" not in admin_cookie(await with_token(spoofed)).lower()
    for _ in range(10):  # its failures count against its own address, not the one it claims
        await spoofed_sign_in(untrusted)
    assert (await spoofed_sign_in(untrusted)).status_code == 429
    async with shop.browser("1.2.3.4") as claimed:
        await with_token(claimed)


async def spoofed_sign_in(transport: httpx.ASGITransport) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=transport,
        base_url=ORIGIN,
        headers={"origin": ORIGIN, "x-forwarded-for": "1.2.3.4"},
    ) as client:
        return await client.post("/admin/signin", data={"token": "wrong"})


async def test_failed_sign_ins_are_throttled_per_address_and_per_account(shop: Shop) -> None:
    async with shop.browser() as owner:
        await make_owner(owner)
    async with shop.browser("198.51.100.1") as guesser:
        for i in range(10):
            wrong = await guesser.post(
                "/admin/signin", data={"email": f"nobody{i}@example.com", "password": "x" * 12}
            )
            assert wrong.status_code == 401
        limited = await guesser.post("/admin/signin", data={"token": ADMIN})
        assert limited.status_code == 429  # even the right token, from this address
        assert int(limited.headers["retry-after"]) == 30
        assert "Too many failed sign-ins" in limited.text
    for i in range(5):  # one account, from five addresses
        async with shop.browser(f"198.51.100.{10 + i}") as guesser:
            wrong = await guesser.post(
                "/admin/signin", data={"email": "ada@example.com", "password": f"guess {i:08}"}
            )
            assert wrong.status_code == 401
    async with shop.browser("198.51.100.99") as ada:
        locked = await ada.post(
            "/admin/signin", data={"email": "ada@example.com", "password": PASSWORD}
        )
        assert locked.status_code == 429
        await with_token(ada)  # the way back in stays open
        shop.clock.advance(60)
        back = await ada.post(
            "/admin/signin", data={"email": "ada@example.com", "password": PASSWORD}
        )
        assert back.status_code == 303


async def sign_in(browser: httpx.AsyncClient, password: str) -> httpx.Response:
    return await browser.post(
        "/admin/signin", data={"email": "ada@example.com", "password": password}
    )


async def change_password(
    browser: httpx.AsyncClient, current: str, new: str, repeated: str | None = None
) -> httpx.Response:
    return await browser.post(
        "/admin/password",
        data={
            "csrf": await csrf(browser, "/admin/password"),
            "current_password": current,
            "new_password": new,
            "repeat_password": new if repeated is None else repeated,
        },
    )


async def test_an_admin_changes_their_own_password_and_their_other_sessions_end(
    shop: Shop,
) -> None:
    async with shop.browser() as ada, shop.browser("203.0.113.9") as laptop:
        await make_owner(ada)
        assert (await sign_in(laptop, PASSWORD)).status_code == 303
        team = await ada.get("/admin/team")
        assert '<a href="/admin/password">Change your password</a>' in team.text
        page = await ada.get("/admin/password")
        assert 'autocomplete="current-password"' in page.text
        before = ada.cookies["soldout_admin"]

        changed = await change_password(ada, PASSWORD, NEW_PASSWORD)
        assert changed.status_code == 303, changed.text
        assert changed.headers["location"] == "/admin/password?done=password"
        assert ada.cookies["soldout_admin"] != before  # this browser goes on, in a new session
        done = await ada.get(changed.headers["location"])
        assert "Your password is changed." in done.text
        assert (await ada.get("/admin/launches")).status_code == 200  # still signed in
        gone = await laptop.get("/admin/launches")  # the other session was signed out
        assert gone.status_code == 303
        assert gone.headers["location"].startswith("/admin/signin")
    async with shop.browser() as replay:  # the id this browser held before is ended too
        replay.cookies.set("soldout_admin", before)
        assert (await replay.get("/admin/launches")).status_code == 303

    async with shop.browser("203.0.113.10") as later:
        assert (await sign_in(later, PASSWORD)).status_code == 401
        assert (await sign_in(later, NEW_PASSWORD)).status_code == 303
        log = await later.get("/admin/audit")
        assert "team.password_changed" in log.text
        assert PASSWORD not in log.text
        assert NEW_PASSWORD not in log.text
    (entry, *_) = await shop.platform.store.audit.recent(5)
    assert (entry.action, entry.actor) == (
        "team.password_changed",
        "Ada Lovelace <ada@example.com>",
    )
    assert entry.detail == {"email": "ada@example.com", "other_sessions_ended": "1"}
    assert PASSWORD not in repr(entry)
    assert NEW_PASSWORD not in repr(entry)


async def test_a_password_change_is_refused_with_the_field_named(shop: Shop) -> None:
    async with shop.browser() as ada:
        await make_owner(ada)
        refusals = [
            ("a wrong password", NEW_PASSWORD, None, "current_password", "not right"),
            (PASSWORD, "too short", None, "new_password", "at least 12 characters"),
            (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "repeat_password", "differs"),
            (PASSWORD, PASSWORD, None, "new_password", "must differ from the current one"),
        ]
        for current, new, repeated, field, words in refusals:
            refused = await change_password(ada, current, new, repeated)
            assert refused.status_code == 400, (field, refused.text)
            assert words in refused.text
            assert f'<span class="field">({field})</span>' in refused.text
            assert f'name="{field}" type="password" required' in refused.text
            (invalid,) = re.findall(r'<input [^>]*aria-invalid="true"[^>]*>', refused.text)
            assert f'name="{field}"' in invalid
            for typed in {current, new, repeated} - {None}:
                assert f'value="{typed}"' not in refused.text  # a password is never echoed
        assert (await ada.get("/admin/launches")).status_code == 200  # still signed in
    async with shop.browser("203.0.113.10") as later:
        assert (await sign_in(later, PASSWORD)).status_code == 303  # nothing changed
    assert "team.password_changed" not in [
        e.action for e in await shop.platform.store.audit.recent(9)
    ]


async def test_wrong_current_passwords_are_throttled_like_sign_ins(shop: Shop) -> None:
    async with shop.browser() as ada:
        await make_owner(ada)
        for _ in range(5):  # the account's allowance of failed sign-ins
            wrong = await change_password(ada, "a wrong password", NEW_PASSWORD)
            assert wrong.status_code == 400
        limited = await change_password(ada, PASSWORD, NEW_PASSWORD)  # even the right one
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) == 60
        assert "too many wrong passwords" in limited.text
        async with shop.browser("203.0.113.11") as elsewhere:  # signing in waits too
            assert (await sign_in(elsewhere, PASSWORD)).status_code == 429
        shop.clock.advance(60)
        assert (await change_password(ada, PASSWORD, NEW_PASSWORD)).status_code == 303


async def test_the_admin_token_has_no_password_to_change(shop: Shop) -> None:
    async with shop.browser() as browser:
        await with_token(browser)
        team = await browser.get("/admin/team")
        assert "Change your password" not in team.text
        page = await browser.get("/admin/password")
        assert page.status_code == 200
        assert 'id="no-password"' in page.text
        assert "there is no password to change" in page.text
        assert 'name="current_password"' not in page.text
        posted = await browser.post(
            "/admin/password",
            data={
                "csrf": await csrf(browser),
                "current_password": ADMIN,
                "new_password": NEW_PASSWORD,
                "repeat_password": NEW_PASSWORD,
            },
        )
        assert posted.status_code == 400
        assert "the admin token, which has no password to change" in posted.text
        assert 'id="no-password"' in posted.text


async def test_a_password_change_needs_the_form_token_and_our_origin(shop: Shop) -> None:
    async with shop.browser() as ada:
        await make_owner(ada)
        fields = {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "repeat_password": NEW_PASSWORD,
        }
        missing = await ada.post("/admin/password", data=fields)
        assert missing.status_code == 403
        assert "did not come from this admin" in missing.text
        wrong = await ada.post("/admin/password", data={**fields, "csrf": "0" * 64})
        assert wrong.status_code == 403
        token = await csrf(ada, "/admin/password")
        other_site = await ada.post(
            "/admin/password",
            data={**fields, "csrf": token},
            headers={"origin": "https://evil.example"},
        )
        assert other_site.status_code == 403
        assert (await ada.get("/admin/launches")).status_code == 200
    async with shop.browser("203.0.113.10") as later:
        assert (await sign_in(later, PASSWORD)).status_code == 303  # unchanged
    async with shop.browser("203.0.113.12") as stranger:  # not signed in: to the sign-in page
        answer = await stranger.post("/admin/password", data=fields)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/signin?next=%2Fadmin%2Fpassword"


def test_an_admin_token_under_32_characters_is_refused_at_start(tmp_path: Path) -> None:
    env = {**os.environ, "SOLDOUT_ADMIN_TOKEN": "x" * 31}
    result = subprocess.run(
        [sys.executable, "-m", "soldout", "serve", "--data", str(tmp_path), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "Error: the admin token (SOLDOUT_ADMIN_TOKEN) has 31 characters, fewer than 32: use"
        " a longer one, e.g. from python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    ]


async def test_each_member_turns_the_teams_emails_off_and_on_for_themselves(
    shop: Shop,
) -> None:
    async with shop.browser() as owner:
        await make_owner(owner)
        page = (await owner.get("/admin/team")).text
        assert 'name="maker_mail" value="on" checked' in page
        assert shop.platform.team.news_recipients() == [shop.platform.team.accounts()[0].id]
        token = await csrf(owner)
        off = await owner.post("/admin/team/mail", data={"csrf": token})  # unticked: not sent
        assert off.status_code == 303
        assert off.headers["location"] == "/admin/team?done=maker_mail_off"
        page = (await owner.get(off.headers["location"])).text
        assert "You will not get the team&#39;s e-mails any more." in page
        assert 'name="maker_mail" value="on" checked' not in page
        assert shop.platform.team.news_recipients() == []
        (entry, *_) = await shop.platform.store.audit.recent(1)
        assert (entry.action, entry.detail["maker_mail"]) == ("team.maker_mail", "off")
        bad = await owner.post("/admin/team/mail", data={"csrf": token, "maker_mail": "yes"})
        assert bad.status_code == 400
        assert "a checkbox is sent as on, or not at all" in bad.text
        assert "(maker_mail)" in bad.text  # the field named
        assert shop.platform.team.news_recipients() == []  # nothing changed
        forged = await owner.post("/admin/team/mail", data={"maker_mail": "on"})  # no csrf
        assert forged.status_code == 403
        on = await owner.post("/admin/team/mail", data={"csrf": token, "maker_mail": "on"})
        assert on.headers["location"] == "/admin/team?done=maker_mail_on"
        assert len(shop.platform.team.news_recipients()) == 1

        viewer_link = await invite(owner, "rita@example.com", "read_only")
        async with joined(shop, viewer_link, "Rita", "203.0.113.2") as viewer:
            page = (await viewer.get("/admin/team")).text
            assert "Read-only members get none" in page
            assert 'action="/admin/team/mail"' not in page  # nothing to turn on
            kept = await viewer.post(
                "/admin/team/mail", data={"csrf": await csrf(viewer), "maker_mail": "on"}
            )
            assert kept.status_code == 403
        assert len(shop.platform.team.news_recipients()) == 1  # read-only: still none
        assert "none (read-only)" in (await owner.get("/admin/team")).text

    async with shop.browser("203.0.113.9") as token_holder:
        await with_token(token_holder)
        page = (await token_holder.get("/admin/team")).text
        assert "which has no e-mail address" in page
        refused = await token_holder.post(
            "/admin/team/mail", data={"csrf": await csrf(token_holder), "maker_mail": "on"}
        )
        assert refused.status_code == 400
        assert "no e-mail address" in refused.text
