"""The storefront's pages over HTTP against a real server."""

from __future__ import annotations

import hashlib
import re
import uuid

import httpx
import pytest

from tests.support import ServerProcess, create_launch, join_by_mail, mailed_sign_in_link

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too


def _join(server: ServerProcess, client: httpx.Client, ref: str = "") -> str:
    """Join through the form and sign in by the mailed link, as a browser does; returns
    the e-mail (its next link may be asked for a minute later)."""
    email = f"{uuid.uuid4().hex[:10]}@fans.test"
    form = {"email": email, "name": "Ann", "ref": ref, "next": ""}
    response = join_by_mail(client, server, form)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/me"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie  # a shared link from another site arrives signed in
    return email


def test_pages_render_with_their_content(shared_server: ServerProcess, admin: httpx.Client) -> None:
    launch = create_launch(
        admin, batch={"A": 7, "B": 3}, opens_in=3600, per_fan_limit=2, pow_difficulty=10
    )
    with shared_server.client() as anyone:
        home = anyone.get("/")
        assert home.status_code == 200
        assert 'lang="en"' in home.text
        assert launch["id"] in home.text

        page = anyone.get(f"/launches/{launch['id']}")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        text = page.text
        assert "€10.00" in text
        assert "€10.01" in text
        assert "Up to 2 per fan" in text
        assert "puzzle" in text  # proof of work in plain words
        assert 'aria-live="polite"' in text
        assert "Join to buy" in text  # not signed in: asked to join

        for path in ("/join?ref=ABCD2345", "/signin"):
            response = anyone.get(path)
            assert response.status_code == 200, path
        assert 'value="ABCD2345"' in anyone.get("/join?ref=ABCD2345").text

        me = anyone.get("/me")
        assert me.status_code == 303
        assert me.headers["location"].startswith("/signin")


def test_unknown_things_are_friendly_pages(shared_server: ServerProcess) -> None:
    with shared_server.client() as anyone:
        for path in ("/launches/lch_nope",):
            response = anyone.get(path)
            assert response.status_code == 404
            assert response.headers["content-type"].startswith("text/html")
            assert "We could not find that page" in response.text
            assert "{" not in response.text.split("<main", 1)[1].split("</main>", 1)[0]
    with shared_server.client() as client:
        _join(shared_server, client)
        for path in ("/claims/clm_nope", "/orders/ord_nope"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert "We could not find that page" in response.text


def test_an_address_nothing_answers_is_the_shops_page_in_the_fans_language(
    shared_server: ServerProcess,
) -> None:
    browser = {"accept": "text/html,application/xhtml+xml"}
    with shared_server.client() as anyone:
        dutch = anyone.get("/no-such-page", headers=browser | {"accept-language": "nl"})
        assert dutch.status_code == 404
        assert 'lang="nl"' in dutch.text
        assert "We konden die pagina niet vinden." in dutch.text
        assert 'href="/static/store.css"' in dutch.text  # the shop's own page, not a bare one
        anyone.cookies.set("soldout_lang", "zh_Hans")  # the language switcher's choice
        chinese = anyone.get("/launches", headers=browser | {"accept-language": "nl"})
        assert chinese.status_code == 404
        assert 'lang="zh' in chinese.text
        # a program still gets JSON
        api = anyone.get("/api/v1/no-such-thing", headers=browser)
        assert (api.status_code, api.json()["error"]["code"]) == (404, "not_found")


def test_a_zones_name_for_a_first_page_is_the_one_later_pages_write(
    shared_server: ServerProcess,
) -> None:
    with shared_server.client() as anyone:
        named = anyone.get("/time-zone", params={"zone": "Asia/Shanghai", "lang": "zh-Hans"})
        assert named.status_code == 200
        anyone.cookies.set("soldout_tz", "Asia/Shanghai")
        anyone.cookies.set("soldout_lang", "zh_Hans")
        later = anyone.get("/")
        note = re.search(r'id="zone-note"[^>]*>([^<]*)<', later.text)
        assert note is not None
        assert named.json() == {"zone": "Asia/Shanghai", "name": "中国时间", "note": note[1]}
        assert 'data-zone-name="中国时间"' in later.text
        unknown = anyone.get("/time-zone", params={"zone": "Mars/Base", "lang": "en"})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["field"] == "zone"


def test_static_assets_are_cached(shared_server: ServerProcess) -> None:
    with shared_server.client() as anyone:
        for name in (
            "store.css",
            "store/core.js",
            "store/launch.js",
            "store/claim.js",
            "store-pow.js",
        ):
            response = anyone.get(f"/static/{name}")
            assert response.status_code == 200, name
            assert "max-age" in response.headers["cache-control"]


def _scripts(page: httpx.Response) -> list[str]:
    return re.findall(r'<script src="([^"]+)" defer></script>', page.text)


def test_each_page_runs_the_shared_script_then_its_own_as_they_are_now(
    shared_server: ServerProcess, admin: httpx.Client
) -> None:
    """The storefront's script is split: every page loads the shared one first, the launch
    and claim pages then their own. Each is named with its version (a digest of what is
    served), so a browser still holding another version for the cache's hour fetches this
    one and never runs an old shared script with a new page's (or the reverse)."""
    launch = create_launch(admin, batch={"A": 5})
    with shared_server.client() as client:
        _join(shared_server, client)
        url = f"/api/v1/launches/{launch['id']}/claims"
        headers = {"idempotency-key": uuid.uuid4().hex, "x-soldout-web": "1"}
        held = client.post(url, json={"sku": "A"}, headers=headers)
        assert held.status_code == 201, held.text
        pages = {
            "/": [],
            f"/launches/{launch['id']}": ["launch"],
            f"/claims/{held.json()['id']}": ["claim"],
        }
        for path, own in pages.items():
            scripts = _scripts(client.get(path))
            names = [src.split("?")[0] for src in scripts]
            assert names == [f"/static/store/{name}.js" for name in ["core", *own]], path
            for src in scripts:
                served = client.get(src)
                assert served.status_code == 200, src
                digest = hashlib.sha256(served.content).hexdigest()
                assert src.endswith(f"?v={digest[:12]}"), src


def test_the_cookie_alone_cannot_buy(shared_server: ServerProcess, admin: httpx.Client) -> None:
    launch = create_launch(admin, batch={"A": 5})
    with shared_server.client() as client:
        _join(shared_server, client)
        url = f"/api/v1/launches/{launch['id']}/claims"
        headers = {"idempotency-key": uuid.uuid4().hex}
        forged = client.post(url, json={"sku": "A"}, headers=headers)
        assert forged.status_code == 401
        assert client.get("/api/v1/me").status_code == 401
        web = client.post(url, json={"sku": "A"}, headers={**headers, "x-soldout-web": "1"})
        assert web.status_code == 201, web.text
        claim_page = client.get(f"/claims/{web.json()['id']}")
        assert claim_page.status_code == 200
        assert "€10.00" in claim_page.text
        assert "tok_decline" in claim_page.text


def test_join_refuses_bad_input_in_words(shared_server: ServerProcess) -> None:
    with shared_server.client() as anyone:
        bad = anyone.post("/join", data={"email": "nope", "name": "Ann"})
        assert bad.status_code == 422
        assert "valid e-mail" in bad.text
        assert 'aria-invalid="true"' in bad.text
        unknown = anyone.post(
            "/join", data={"email": "x@fans.test", "name": "Ann", "ref": "ZZZZZZZZ"}
        )
        assert unknown.status_code == 422
        assert "referral code" in unknown.text
        foreign = anyone.post(
            "/join",
            data={"email": "y@fans.test", "name": "Ann"},
            headers={"origin": "https://evil.example"},
        )
        assert foreign.status_code == 403


def test_referral_and_sign_in_link(shared_server: ServerProcess) -> None:
    with shared_server.client() as first:
        _join(shared_server, first)
        me = first.get("/me")
        assert me.status_code == 200
        link = me.text.split('id="ref-link"', 1)[1].split('value="', 1)[1].split('"', 1)[0]
        assert link.startswith(shared_server.base_url + "/join?ref=")
        code = link.rsplit("=", 1)[1]

    with shared_server.client() as second:
        _join(shared_server, second, ref=code)
        standing = second.get("/api/v1/me", headers={"x-soldout-web": "1"}).json()
        assert standing["referred_by"] is not None
        session = second.cookies["soldout_fan"]
        # the cookie holds a session id, not a token; the fan's API token comes from the API
        renewed = second.post("/api/v1/me/token", headers={"x-soldout-web": "1"})
        assert renewed.status_code == 200, renewed.text
        fan_token = renewed.json()["token"]
        assert fan_token != session
        with shared_server.client(session) as cookie_as_token:
            assert cookie_as_token.get("/api/v1/me").status_code == 401
        # a link (from another site, say) signs nobody out: only the page's own form does
        assert second.get("/signout").status_code == 405
        elsewhere = {"origin": "https://elsewhere.test"}
        assert second.post("/signout", headers=elsewhere).status_code == 403
        assert second.get("/me").status_code == 200
        assert second.post("/signout").status_code == 303
        assert "soldout_fan" not in second.cookies
        assert second.get("/me").status_code == 303
        second.cookies.set("soldout_fan", session)  # signing out ended it on the server
        assert second.get("/me").status_code == 303
        assert second.get("/api/v1/me", headers={"x-soldout-web": "1"}).status_code == 401
        second.cookies.clear()
        # (a fan made over the API: the join's link was this minute's to the joined one)
        email = f"{uuid.uuid4().hex[:12]}@fans.test"
        made = second.post("/api/v1/fans", json={"email": email, "name": "Ann"})
        assert made.status_code == 201, made.text
        fan_token = made.json()["token"]
        sent = second.post("/signin", data={"email": email, "next": "/me"})
        assert sent.status_code == 200
        assert "sign-in link" in sent.text
        missing = second.post("/signin", data={"email": "nobody@fans.test"})
        assert missing.status_code == 200  # the same answer: no address enumeration

    # Not in demo mode: the link is not on screen, nor among the account's messages (an
    # account opened with someone else's address would read it there): only in the mail.
    assert "signin-link" not in sent.text
    with shared_server.client(fan_token) as fan:
        notes = fan.get("/api/v1/me/notifications").json()
    assert "sign_in_link" not in {n["kind"] for n in notes}
    url = mailed_sign_in_link(shared_server, email)
    path = url.removeprefix(shared_server.base_url)
    assert path.startswith("/signin/")
    with shared_server.client() as browser:
        assert browser.get(path).status_code == 200  # a page with a button: spends nothing
        response = browser.post(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/me"
        assert "Hello, Ann" in browser.get("/me").text
    with shared_server.client() as again:
        used = again.post(path)
        assert used.status_code == 400
        assert "already used" in used.text
        tampered = again.post(path[:-2] + ("xx" if not path.endswith("xx") else "yy"))
        assert tampered.status_code == 400
    # Single use across a restart too: the spent link is kept with the data.
    shared_server.stop()
    shared_server.start()
    with shared_server.client() as after_restart:
        assert after_restart.post(path).status_code == 400


def test_the_ideas_board_pages_answer_a_fan_in_words(
    shared_server: ServerProcess, admin: httpx.Client
) -> None:
    pid = create_launch(admin)["product_id"]
    with shared_server.client() as anyone:
        board = anyone.get(f"/products/{pid}/ideas")
        assert board.status_code == 200
        assert "Join to post and vote" in board.text
        assert anyone.get("/products/prd_nope/ideas").status_code == 404
        for path in ("/ideas/ida_nope", "/releases/rls_nope", "/polls/pol_nope"):
            assert anyone.get(path).status_code == 404, path
    with shared_server.client() as fan:
        _join(shared_server, fan)
        blank = fan.post(f"/products/{pid}/ideas", data={"title": "  ", "text": "why"})
        assert blank.status_code == 422
        assert "Give your idea a short title." in blank.text
        assert ">why</textarea>" in blank.text  # what was typed is kept
        fan.cookies.set("soldout_lang", "nl")
        long = fan.post(
            f"/products/{pid}/ideas", data={"title": "Donkere modus", "category": "x" * 41}
        )
        assert long.status_code == 422
        assert "Houd de categorie kort" in long.text  # in the fan's language, not the engine's
        fan.cookies.delete("soldout_lang")
        posted = fan.post(f"/products/{pid}/ideas", data={"title": "Dark mode", "kind": "idea"})
        assert posted.status_code == 303
        idea = posted.headers["location"]
        assert idea.startswith("/ideas/ida_")
        voted = fan.post(f"{idea}/vote", data={"vote": "off", "next": "//evil.example"})
        assert (voted.status_code, voted.headers["location"]) == (303, idea)  # never off-site
        assert 'class="vote-count">0<' in fan.get(idea).text
        forged = fan.post(
            f"{idea}/vote", data={"vote": "on"}, headers={"origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        assert 'class="vote-count">0<' in fan.get(idea).text
        elsewhere = fan.post(f"{idea}/report", data={"subject": "cmt_nope", "reason": "spam"})
        assert elsewhere.status_code == 404
        said = fan.post(f"{idea}/comments", data={"text": "<script>alert(1)</script> **yes**"})
        assert said.status_code == 303
        page = fan.get(idea).text
        assert "<script>alert" not in page
        assert "<strong>yes</strong>" in page


def test_the_board_page_takes_any_query_without_an_error(
    shared_server: ServerProcess, admin: httpx.Client
) -> None:
    pid = create_launch(admin)["product_id"]
    with shared_server.client() as anyone:
        for query in ("page=abc", "page=-3", "page=99999999999", "sort=best", "q=" + "x" * 500):
            page = anyone.get(f"/products/{pid}/ideas?{query}")
            assert page.status_code == 200, query
            assert page.headers["content-type"].startswith("text/html"), query
