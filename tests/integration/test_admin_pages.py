"""The admin pages over HTTP against a real server: sign-in, forms, audit, CSRF, SSE."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.support import ADMIN_TOKEN, ServerProcess, claim, create_launch, now, register


@pytest.fixture
def browser(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """A signed-in browser: the admin cookie, and our own Origin on posts."""
    with httpx.Client(
        base_url=shared_server.base_url,
        timeout=30,
        headers={"origin": shared_server.base_url},
    ) as client:
        answer = client.post("/admin/signin", data={"token": ADMIN_TOKEN})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/launches"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        yield client


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def test_pages_need_sign_in(shared_server: ServerProcess) -> None:
    with shared_server.client() as anon:
        pages = ("/admin/launches", "/admin/orders", "/admin/audit", "/admin/reconciliation")
        for path in (*pages, "/admin/products/new"):
            answer = anon.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/admin/signin?next=")
        page = anon.get("/admin/signin")
        assert page.status_code == 200
        assert '<label for="token">Admin token</label>' in page.text
        wrong = anon.post("/admin/signin", data={"token": "not-it"})
        assert wrong.status_code == 401
        assert "That is not the admin token." in wrong.text
        assert "set-cookie" not in wrong.headers
        # the API's bearer token in a cookie is not enough for the JSON API
        anon.cookies.set("soldout_admin", ADMIN_TOKEN)
        assert anon.get("/api/v1/audit").status_code == 401


def test_forms_create_a_product_and_launch(browser: httpx.Client) -> None:
    form = browser.get("/admin/products/new")
    assert form.status_code == 200
    assert form.headers["content-security-policy"].startswith("default-src 'self'")
    token = csrf_of(form)
    made = browser.post(
        "/admin/products",
        data={
            "csrf": token,
            "name": "Form Lamp",
            "sku0_code": "LMP-W",
            "sku0_name": "White",
            "sku0_price": "129.99",  # typed as decimals in the currency's own units
            "sku0_cost": "41",
            "sku0_currency": "EUR",
            "sku1_code": "LMP-J",
            "sku1_price": "1500",
            "sku1_currency": "EUR",  # (a product's SKUs share one currency)
        },
    )
    assert made.status_code == 303, made.text
    assert made.headers["location"].startswith("/admin/launches/new?product_id=prd")
    page = browser.get(made.headers["location"])
    assert "EUR 129.99" in page.text  # money shown exactly
    assert "EUR 1,500.00" in page.text
    product_id = re.search(r'name="product_id" value="(prd[^"]+)"', page.text)
    assert product_id
    opens = (now() - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S")
    launch = browser.post(
        "/admin/launches",
        data={
            "csrf": token,
            "product_id": product_id.group(1),
            "title": "Form launch",
            "sale_opens_at": opens,
            "batch_LMP-W": "7",
            "batch_LMP-J": "0",
            "per_fan_limit": "2",
        },
    )
    assert launch.status_code == 303, launch.text
    launch_id = launch.headers["location"].split("/")[-1].split("?")[0]
    # A new launch is a draft: fans cannot see it, its page says so and offers to publish.
    assert httpx.get(f"{browser.base_url}/api/v1/launches/{launch_id}").status_code == 404
    assert httpx.get(f"{browser.base_url}/launches/{launch_id}").status_code == 404
    page = browser.get(launch.headers["location"])
    assert "Launch created as a draft" in page.text
    assert "Draft: not visible to fans yet." in page.text
    answer = httpx.get(
        f"{browser.base_url}/api/v1/launches/{launch_id}",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    body = answer.json()
    assert (body["title"], body["status"]) == ("Form launch", "draft")
    assert body["per_fan_limit"] == 2
    assert [(s["code"], s["batch"]) for s in body["skus"]] == [("LMP-W", 7)]
    # The form's defaults are the fair race, sized to the batch.
    rules = ("waiting_room_burst", "waiting_room_shuffle_seconds", "pow_difficulty")
    assert [body[k] for k in (*rules, "duplicate_rule")] == [7, 10, 12, "cancel"]
    row = _row_of(browser.get("/admin/launches").text, launch_id)
    assert "Form launch" in row
    assert "not visible to fans yet" in row
    assert f'href="/launches/{launch_id}"' not in row
    published = browser.post(f"/admin/launches/{launch_id}/publish", data={"csrf": csrf_of(page)})
    assert published.status_code == 303
    assert httpx.get(f"{browser.base_url}/api/v1/launches/{launch_id}").status_code == 200
    row = _row_of(browser.get("/admin/launches").text, launch_id)
    assert f'href="/launches/{launch_id}"' in row  # each launch links to its storefront page
    assert f'href="/launches/{launch_id}"' in browser.get(f"/admin/launches/{launch_id}").text


def _row_of(page: str, launch_id: str) -> str:
    """The launches list's row of one launch."""
    found = re.search(
        rf"<tr>\s*<th scope=\"row\"><a href=\"/admin/launches/{launch_id}\">.*?</tr>", page, re.S
    )
    assert found, page[:2000]
    return found.group(0)


def test_the_fast_race_is_a_choice_made_in_the_form(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        product = admin.post(
            "/api/v1/products",
            json={
                "name": "Race",
                "skus": [{"code": "R", "name": "R", "price": 100, "currency": "EUR"}],
            },
        ).json()
        form = browser.get(f"/admin/launches/new?product_id={product['id']}")
        assert "Fast race, unguarded." in form.text  # with what it costs, in words
        assert "bots won 75" in form.text
        fields = {
            "csrf": csrf_of(form),
            "product_id": product["id"],
            "title": "Fast one",
            "sale_opens_at": (now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"),
            "batch_R": "5",
            "race": "fast",
        }
        made = browser.post("/admin/launches", data=fields)
        assert made.status_code == 303, made.text
        launch_id = made.headers["location"].split("/")[-1].split("?")[0]
        body = admin.get(f"/api/v1/launches/{launch_id}").json()
        rules = ("waiting_room", "pow_difficulty", "duplicate_rule")
        assert [body[k] for k in rules] == [False, None, "allow"]
        page = browser.get(f"/admin/launches/{launch_id}").text
        assert "none: the fastest request wins" in page


def test_the_launch_form_sets_the_fairness_rules(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        product = admin.post(
            "/api/v1/products",
            json={
                "name": "Rules Lamp",
                "skus": [{"code": "R", "name": "R", "price": 100, "currency": "EUR"}],
            },
        ).json()
    token = csrf_of(browser.get(f"/admin/launches/new?product_id={product['id']}"))
    soon = now() + timedelta(minutes=5)

    def post_launch(title: str, **fields: str) -> httpx.Response:
        sale = {"sale_opens_at": soon.strftime("%Y-%m-%dT%H:%M:%S"), "batch_R": "5"}
        data = {"csrf": token, "product_id": product["id"], "title": title, **sale, **fields}
        return browser.post("/admin/launches", data=data)

    made = post_launch(
        "Fair draw",
        reservations_open_at=now().strftime("%Y-%m-%dT%H:%M:%S"),
        mode="draw",
        reservation_required="on",
        pow_difficulty="12",
        duplicate_rule="cancel",
        duplicate_limit="3",
    )
    assert made.status_code == 303, made.text
    launch_id = made.headers["location"].split("/")[-1].split("?")[0]
    with shared_server.admin() as admin:  # (a draft: the admin sees it)
        body = admin.get(f"/api/v1/launches/{launch_id}").json()
    assert (body["mode"], body["reservation_required"]) == ("draw", True)
    assert (body["pow_difficulty"], body["duplicate_rule"]) == (12, "cancel")
    assert body["draw_commitment"]  # a draw commits to its seed from the start
    for mistake, words in (  # the form again, with the mistake in words
        ({"mode": "draw", "waiting_room_rate": "fast"}, "Waiting room rate must be a number"),
        ({"per_fan_limit": "5000"}, "per fan limit must be between 1 and 1000"),  # no API name
    ):
        refused = post_launch("Refused", **mistake)
        assert refused.status_code == 400
        assert words in refused.text


def test_a_bad_form_is_answered_in_words(browser: httpx.Client) -> None:
    token = csrf_of(browser.get("/admin/products/new"))
    answer = browser.post(
        "/admin/products",
        data={
            "csrf": token,
            "name": "X",
            "sku0_code": "A",
            "sku0_price": "12.505",
            "sku0_currency": "EUR",
        },
    )
    assert answer.status_code == 400
    assert "has 3 digits after the decimal mark, but EUR has 2 decimals" in answer.text
    assert 'value="12.505"' in answer.text  # what was typed is kept


def test_pause_and_resume_are_audited(browser: httpx.Client, shared_server: ServerProcess) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin)
    page = browser.get(f"/admin/launches/{launch['id']}")
    assert page.status_code == 200
    token = csrf_of(page)
    paused = browser.post(f"/admin/launches/{launch['id']}/pause", data={"csrf": token})
    assert paused.status_code == 303
    assert "Sale paused." in browser.get(paused.headers["location"]).text
    with shared_server.client() as anyone:
        assert anyone.get(f"/api/v1/launches/{launch['id']}").json()["status"] == "paused"
        fan = register(anyone)
        assert claim(anyone, launch["id"], fan["token"]).status_code == 409
        resumed = browser.post(f"/admin/launches/{launch['id']}/resume", data={"csrf": token})
        assert resumed.status_code == 303
        assert anyone.get(f"/api/v1/launches/{launch['id']}").json()["status"] == "on_sale"
    with shared_server.admin() as admin:
        audit = admin.get("/api/v1/audit", params={"limit": 50}).json()
    mine = [e["action"] for e in audit if e["subject"] == launch["id"]]
    assert mine[:2] == ["launch.resume", "launch.pause"]
    assert all(e["actor"].startswith("admin:") for e in audit)
    log = browser.get("/admin/audit")
    assert "launch.pause" in log.text
    assert launch["id"] in log.text


def test_cancel_needs_the_confirmation(browser: httpx.Client, shared_server: ServerProcess) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin)
    token = csrf_of(browser.get(f"/admin/launches/{launch['id']}"))
    refused = browser.post(f"/admin/launches/{launch['id']}/cancel", data={"csrf": token})
    assert refused.status_code == 400
    assert "confirm" in refused.text
    done = browser.post(
        f"/admin/launches/{launch['id']}/cancel", data={"csrf": token, "confirm": "cancel"}
    )
    assert done.status_code == 303
    assert "Cancelled" in browser.get(f"/admin/launches/{launch['id']}").text


def test_codes_issue_and_export(browser: httpx.Client, shared_server: ServerProcess) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 10, "B": 5})
    token = csrf_of(browser.get(f"/admin/launches/{launch['id']}"))
    issued = browser.post(
        f"/admin/launches/{launch['id']}/codes", data={"csrf": token, "count": "3", "sku": "B"}
    )
    assert issued.status_code == 303
    exported = browser.get(f"/admin/launches/{launch['id']}/codes.csv")
    assert exported.status_code == 200
    lines = exported.text.strip().splitlines()
    assert lines[0] == "code,sku,any_sku,expires_at,state,granted_to,redeemed_sku"
    assert len(lines) == 4
    assert all(",B,0,," in line for line in lines[1:])


def test_a_post_without_the_form_token_or_from_another_site_is_refused(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin)
    path = f"/admin/launches/{launch['id']}/pause"
    token = csrf_of(browser.get(f"/admin/launches/{launch['id']}"))
    no_token = browser.post(path, data={})
    assert no_token.status_code == 403
    assert "did not come from this admin" in no_token.text
    wrong = browser.post(path, data={"csrf": "0" * 64})
    assert wrong.status_code == 403
    elsewhere = browser.post(path, data={"csrf": token}, headers={"origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    with shared_server.client() as anyone:
        assert anyone.get(f"/api/v1/launches/{launch['id']}").json()["status"] == "on_sale"


def test_orders_page_ships_and_filters(browser: httpx.Client, shared_server: ServerProcess) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 5})
    with shared_server.client() as anyone:
        for _ in range(3):
            fan = register(anyone)
            made = claim(anyone, launch["id"], fan["token"]).json()
            paid = anyone.post(
                f"/api/v1/claims/{made['id']}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": "p1"},
            )
            assert paid.status_code == 200, paid.text
    page = browser.get("/admin/orders", params={"launch_id": launch["id"]})
    assert page.text.count("EUR 10.00") == 3
    line = f"{launch['product_id']}/A"
    assert f'<option value="{line}"' in page.text
    shipped = browser.post(
        "/admin/orders/ship-next",
        data={"csrf": csrf_of(page), "line": line, "count": "2", "carrier": "DHL"},
    )
    assert shipped.status_code == 303  # to a page a reload cannot post again
    for _ in range(2):  # (the reload)
        told = browser.get(shipped.headers["location"])
        assert "2 orders shipped" in told.text
    only = browser.get("/admin/orders", params={"launch_id": launch["id"], "status": "shipped"})
    assert only.text.count("EUR 10.00") == 2
    last = browser.post(
        "/admin/orders/ship-next",
        data={"csrf": csrf_of(page), "line": line, "count": "5", "carrier": "DHL"},
    )
    told = browser.get(last.headers["location"]).text
    assert "1 order shipped" in told
    assert "5 were asked for: no more were waiting to ship." in told
    csv = browser.get("/admin/orders.csv", params={"launch_id": launch["id"]})
    assert csv.status_code == 200
    assert csv.text.startswith("order_id,paid_at,")
    assert len(csv.text.strip().splitlines()) == 4


def pay_orders(server: ServerProcess, launch_id: str, count: int) -> list[str]:
    """`count` fans claim and pay one unit each; returns their order ids."""
    orders = []
    with server.client() as anyone:
        for _ in range(count):
            fan = register(anyone)
            made = claim(anyone, launch_id, fan["token"])
            assert made.status_code == 201, made.text
            paid = anyone.post(
                f"/api/v1/claims/{made.json()['id']}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": "p1"},
            )
            assert paid.status_code == 200, paid.text
            orders.append(paid.json()["id"])
    return orders


def test_an_order_is_refunded_from_its_page_with_a_reason_once_confirmed(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 2}, race="fast")
    kept, refunded = pay_orders(shared_server, launch["id"], 2)
    listed = browser.get("/admin/orders", params={"launch_id": launch["id"]})
    assert "/refund" not in listed.text  # no refund in one click from the list
    link = f"/admin/orders/{refunded}?launch_id={launch['id']}"
    assert f'href="{link}"' in listed.text
    page = browser.get(link)
    token = csrf_of(page)
    # the form posts back with the list's filters
    action = f"/admin/orders/{refunded}/refund?launch_id={launch['id']}"
    assert f'action="{action}"' in page.text
    too_long = browser.post(action, data={"csrf": token, "reason": "x" * 501, "confirm": "yes"})
    assert too_long.status_code == 400
    assert "the reason is over 500 characters" in too_long.text
    unconfirmed = browser.post(action, data={"csrf": token, "reason": "changed my mind"})
    assert unconfirmed.status_code == 400
    assert "tick the box to confirm the refund" in unconfirmed.text
    unknown = browser.post(
        "/admin/orders/ord_nothing/refund", data={"csrf": token, "reason": "x", "confirm": "yes"}
    )
    assert unknown.status_code == 404
    assert "order not found" in unknown.text
    done = browser.post(action, data={"csrf": token, "reason": "changed my mind", "confirm": "yes"})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == (
        f"/admin/orders/{refunded}?launch_id={launch['id']}&refunded=on_sale"
    )
    shown = browser.get(done.headers["location"])
    assert "Refunded EUR 10.00; its unit is back on sale." in shown.text
    assert f'action="/admin/orders/{refunded}/refund' not in shown.text  # nothing left to do
    assert f'action="/admin/orders/{kept}/refund' in browser.get(f"/admin/orders/{kept}").text
    # a second click (a stale tab) changes nothing and says so
    again = browser.post(action, data={"csrf": token, "reason": "clicked twice", "confirm": "yes"})
    assert again.headers["location"].endswith("&again=1")
    assert "was already refunded" in browser.get(again.headers["location"]).text
    # without the form token, or signed out, nothing happens
    fields = {"reason": "no token", "confirm": "yes"}
    refused = browser.post(f"/admin/orders/{kept}/refund", data=fields)
    assert refused.status_code == 403
    with shared_server.client() as anyone:
        anonymous = anyone.post(f"/admin/orders/{kept}/refund", data={"csrf": token, **fields})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/admin/signin")
    with shared_server.admin() as admin:
        order = admin.get("/api/v1/orders", params={"launch_id": launch["id"]}).json()
        stats = admin.get(f"/api/v1/launches/{launch['id']}/stats").json()
        audit = admin.get("/api/v1/audit", params={"limit": 50}).json()
    states = {o["id"]: o["status"] for o in order["orders"]}
    assert (states[refunded], states[kept]) == ("refunded", "paid")
    assert stats["skus"]["A"]["available"] == 1  # the refunded unit is on sale again
    mine = [e for e in audit if e["subject"] == refunded]
    assert [(e["action"], e["detail"]["reason"]) for e in mine] == [
        ("order.refund", "changed my mind")
    ]


def test_the_launch_page_shows_the_margin(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 5})
    first, *_ = pay_orders(shared_server, launch["id"], 3)

    def margin_of_a() -> list[str]:
        page = browser.get(f"/admin/launches/{launch['id']}")
        assert page.status_code == 200
        margin = page.text[page.text.index('<h2 id="margin">') :]
        row = re.search(r"<th scope=\"row\">A</th>(.*?)</tr>", margin, re.S)
        assert row, margin[:1500]
        return re.findall(r'<td class="num"[^>]*>([^<]*)</td>', row.group(1))

    # 3 units at EUR 10.00, each costing EUR 9.00
    assert margin_of_a() == ["3", "0", "EUR 30.00", "EUR 27.00", "EUR 3.00", "10.0"]
    # one shipped, then refunded: it costs its unit and earns nothing, below zero here
    with shared_server.admin() as admin:
        shipped = admin.post(
            f"/api/v1/products/{launch['product_id']}/skus/A/shipments",
            json={"count": 1, "carrier": "DHL"},
        )
        assert [o["id"] for o in shipped.json()["shipped"]] == [first], shipped.text
        refunded = admin.post(f"/api/v1/orders/{first}/refund", json={"reason": "broken"})
        assert refunded.status_code == 200, refunded.text
    assert margin_of_a() == ["2", "1", "EUR 20.00", "EUR 27.00", "-EUR 7.00", "-35.0"]


def test_plan_page_answers_what_moved(browser: httpx.Client, shared_server: ServerProcess) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin)
    path = f"/admin/products/{launch['product_id']}/skus/A/plan"
    page = browser.get(path)
    assert page.status_code == 200
    answer = browser.post(
        path,
        data={
            "csrf": csrf_of(page),
            "starts_on": "2030-01-01",
            "produced": "5",
            "rates": "2030-01-01 10\n2030-02-01 0",
            "adjustments": "2030-01-03 -2 inventory",
        },
    )
    assert answer.status_code == 200, answer.text
    assert "Plan saved" in answer.text
    assert "moved" in answer.text
    with shared_server.admin() as admin:
        plan = admin.get(f"/api/v1/products/{launch['product_id']}/skus/A/plan").json()["plan"]
    assert plan["rates"][1] == {"starts_on": "2030-02-01", "units_per_day": 0}
    assert plan["adjustments"] == [{"on": "2030-01-03", "units": -2, "note": "inventory"}]


def test_live_stream_sends_a_first_snapshot(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, batch={"A": 20, "B": 3})
    assert browser.get(f"/admin/launches/{launch['id']}/dashboard").status_code == 200
    events: list[tuple[str, str]] = []
    deadline = time.monotonic() + 10
    with browser.stream("GET", f"/admin/launches/{launch['id']}/live") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in stream.iter_lines():
            assert time.monotonic() < deadline, "no snapshot within 10 s"
            if line.startswith("event:"):
                kind = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                events.append((kind, line.partition(":")[2].strip()))
                if kind == "snapshot":
                    break
    assert events[0][0] == "history"
    curve = json.loads(events[0][1])  # the sale since it opened, from the record
    assert set(curve) == {"step_seconds", "points"}
    assert curve["points"][-1]["sold"] == 0
    snapshot = json.loads(events[-1][1])
    assert set(snapshot) >= {
        "at",
        "status",
        "sold",
        "held",
        "available",
        "claims",
        "claims_per_second",
        "reservations",
        "waiting_room",
        "skus",
    }
    assert snapshot["available"] == 23
    assert snapshot["skus"]["B"] == {
        "batch": 3,
        "available": 3,
        "set_aside": 0,
        "held": 0,
        "paid": 0,
        "sold": 0,
    }
    with httpx.Client(base_url=browser.base_url) as anon:
        refused = anon.get(f"/admin/launches/{launch['id']}/live")
        assert refused.status_code == 303


def test_the_board_pages_moderate_and_merge_with_a_form_token(
    browser: httpx.Client, shared_server: ServerProcess, admin: httpx.Client
) -> None:
    pid = create_launch(admin)["product_id"]
    with shared_server.client() as anyone:
        ann, bob = register(anyone), register(anyone)
        ideas = []
        for fan, title in ((ann, "Dark mode"), (bob, "Night theme")):
            made = anyone.post(
                f"/api/v1/products/{pid}/ideas",
                json={"title": title},
                headers={"authorization": f"Bearer {fan['token']}"},
            )
            ideas.append(made.json()["id"])
        said = anyone.post(
            f"/api/v1/ideas/{ideas[0]}/comments",
            json={"text": "Spam spam"},
            headers={"authorization": f"Bearer {bob['token']}"},
        ).json()
        anyone.post(
            "/api/v1/reports",
            json={"subject_id": said["id"], "reason": "spam"},
            headers={"authorization": f"Bearer {ann['token']}"},
        )
    board = browser.get(f"/admin/products/{pid}/board")
    assert board.status_code == 200
    assert "Spam spam" in board.text  # the report, with what it is about
    token = csrf_of(board)
    forged = browser.post(f"/admin/ideas/{ideas[1]}/merge", data={"into": ideas[0]})
    assert forged.status_code == 403  # no form token: refused, nothing merged
    merged = browser.post(f"/admin/ideas/{ideas[1]}/merge", data={"csrf": token, "into": ideas[0]})
    assert merged.status_code == 303
    assert admin.get(f"/api/v1/ideas/{ideas[0]}").json()["votes"] == 2
    hidden = browser.post(
        f"/admin/ideas/{ideas[0]}/hide_comment", data={"csrf": token, "comment_id": said["id"]}
    )
    assert hidden.status_code == 303
    assert admin.get(f"/api/v1/products/{pid}/board/reports").json() == []  # resolved
    url = f"/admin/ideas/{ideas[0]}/bar_commenter"
    refused = browser.post(url, data={"csrf": token, "comment_id": said["id"], "reason": ""})
    assert refused.status_code == 400
    assert "reason" in refused.text
    barred = browser.post(url, data={"csrf": token, "comment_id": said["id"], "reason": "spam"})
    assert barred.status_code == 303
    with shared_server.client() as anyone:  # bob, who wrote the spam, may post no more
        again = anyone.post(
            f"/api/v1/ideas/{ideas[0]}/comments",
            json={"text": "more spam"},
            headers={"authorization": f"Bearer {bob['token']}"},
        )
        assert again.status_code == 403
    assert (
        '<span class="status s-closed">hidden</span>'
        in browser.get(f"/admin/ideas/{ideas[0]}").text
    )
    actions = [e["action"] for e in admin.get("/api/v1/audit", params={"limit": 10}).json()]
    assert {"idea.merge", "post.hide", "fan.bar"} <= set(actions)
