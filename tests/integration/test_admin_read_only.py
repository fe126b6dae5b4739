"""What each role is offered on the admin's pages, over HTTP in-process: a read-only
member's pages carry no form that would change anything (each says instead, in one line,
who can), a staff member's carry every form but the team's, and an owner's all of them;
every form the owner is offered is still refused to a read-only member who posts it."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser

import httpx

from tests.integration.test_admin_team import (
    BEARER,
    Shop,
    csrf,
    invite,
    joined,
    make_owner,
    shop,
)
from tests.support import shipping_address

__all__ = ["shop"]  # (the fixture, used by name)

SIGN_OUT = "/admin/signout"  # posted by every role: it changes nothing of the shop's
LOOK_ONLY = "may only look here"


class PostForms(HTMLParser):
    """The actions of a page's forms that post, and whether each can be submitted (has a
    submit button that is not disabled)."""

    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []
        self.submittable: set[str] = set()
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        at = dict(attrs)
        if tag == "form" and (at.get("method") or "").lower() == "post":
            self._open = (at.get("action") or "").split("?")[0]
            self.actions.append(self._open)
        elif tag == "button" and self._open and _submits(at):
            self.submittable.add(self._open)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def _submits(button: dict[str, str | None]) -> bool:
    return (button.get("type") or "submit") == "submit" and "disabled" not in button


def change_forms(html: str) -> list[str]:
    """The post forms of a page that can be submitted, less signing out."""
    forms = PostForms()
    forms.feed(html)
    return sorted(a for a in forms.actions if a in forms.submittable and a != SIGN_OUT)


async def a_sold_and_shipped_order(shop: Shop, api: httpx.AsyncClient) -> dict[str, str]:
    """A product with an idea on its board, a public launch of it, and one order, shipped."""
    product = await api.post(
        "/api/v1/products",
        headers=BEARER,
        json={
            "name": "Lamp",
            "skus": [{"code": "A", "name": "A", "price": 900, "currency": "EUR"}],
        },
    )
    assert product.status_code == 201, product.text
    pid = product.json()["id"]
    launch = await api.post(
        "/api/v1/launches",
        headers=BEARER,
        json={
            "product_id": pid,
            "title": "Lamp, first batch",
            "sale_opens_at": shop.clock.now().isoformat(),
            "race": "fast",
            "batch": {"A": 5},
        },
    )
    assert launch.status_code == 201, launch.text
    fan = await api.post(
        "/api/v1/fans",
        json={"email": f"f{uuid.uuid4().hex[:6]}@fans.test", "name": "Fan"},
    )
    assert fan.status_code == 201, fan.text
    auth = {"authorization": f"Bearer {fan.json()['token']}"}
    held = await api.post(
        f"/api/v1/launches/{launch.json()['id']}/claims",
        json={"sku": "A"},
        headers={**auth, "idempotency-key": "c1"},
    )
    assert held.status_code == 201, held.text
    paid = await api.post(
        f"/api/v1/claims/{held.json()['id']}/payment",
        json={"method": "test", "token": "tok_ok", "shipping": shipping_address()},
        headers={**auth, "idempotency-key": "p1"},
    )
    assert paid.status_code == 200, paid.text
    shipped = await api.post(
        f"/api/v1/products/{pid}/skus/A/shipments",
        headers=BEARER,
        json={"count": 1, "carrier": "DHL"},
    )
    assert shipped.status_code == 200, shipped.text
    idea = await api.post(f"/api/v1/products/{pid}/ideas", json={"title": "A dimmer"}, headers=auth)
    assert idea.status_code == 201, idea.text
    return {
        "product": pid,
        "launch": launch.json()["id"],
        "order": paid.json()["id"],
        "idea": idea.json()["id"],
    }


def pages_of(ids: dict[str, str]) -> list[str]:
    """Where members land: the lists, one of each thing, and the forms' own pages."""
    return [
        "/admin/launches",
        f"/admin/launches/{ids['launch']}",
        f"/admin/launches/{ids['launch']}/dashboard",
        f"/admin/launches/new?product_id={ids['product']}",
        "/admin/products",
        "/admin/products/new",
        f"/admin/products/{ids['product']}",
        f"/admin/products/{ids['product']}/skus/A/plan",
        f"/admin/products/{ids['product']}/board",
        f"/admin/ideas/{ids['idea']}",
        "/admin/orders",
        f"/admin/orders/{ids['order']}",
        "/admin/shop",
        "/admin/team",
    ]


async def forms_on(browser: httpx.AsyncClient, pages: list[str]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for path in pages:
        page = await browser.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        seen[path] = change_forms(page.text)
    return seen


async def test_each_role_is_offered_only_the_forms_it_may_post(shop: Shop) -> None:
    async with shop.browser() as owner:
        await make_owner(owner)
        ids = await a_sold_and_shipped_order(shop, owner)
        viewer_link = await invite(owner, "rita@example.com", "read_only")
        staff_link = await invite(owner, "sam@example.com", "staff")
        pages = pages_of(ids)
        owners = await forms_on(owner, pages)
        async with joined(shop, staff_link, "Sam", "203.0.113.4") as staff:
            staffs = await forms_on(staff, pages)
        async with joined(shop, viewer_link, "Rita", "203.0.113.2") as viewer:
            viewers = await forms_on(viewer, pages)
            new_links = {
                path: {
                    who: 'href="/admin/products/new"' in (await browser.get(path)).text
                    for who, browser in (("owner", owner), ("read_only", viewer))
                }
                for path in ("/admin/launches", "/admin/products")
            }
            token = await csrf(viewer, "/admin/launches")  # (the sign-out form's)
            refused: dict[str, int] = {}
            for action in sorted({a for forms in owners.values() for a in forms}):
                answer = await viewer.post(action, data={"csrf": token})
                refused[action] = answer.status_code
            team_page = (await viewer.get("/admin/team")).text
            launch_page = (await viewer.get(f"/admin/launches/{ids['launch']}")).text
            order_page = (await viewer.get(f"/admin/orders/{ids['order']}")).text

    # read-only: none, and each refused as before if posted all the same
    assert viewers == {p: [] for p in pages}
    assert set(refused.values()) == {403}, refused
    assert f"Your role (Read-only) {LOOK_ONLY}: staff and owners can pause" in launch_page
    assert "staff and owners can correct its tracking or refund this order" in order_page
    assert f"{LOOK_ONLY}: owners can invite members" in team_page
    # the owner is offered every change: on each page that has one, a form, and on the
    # lists, the links to the forms of a new product and a new launch
    assert [p for p, forms in owners.items() if not forms] == [pages[0], pages[2], pages[4]]
    for path, links in new_links.items():
        assert links == {"owner": True, "read_only": False}, path
    assert f"/admin/orders/{ids['order']}/refund" in owners[f"/admin/orders/{ids['order']}"]
    assert f"/admin/orders/{ids['order']}/tracking" in owners[f"/admin/orders/{ids['order']}"]
    assert "/admin/team/invites" in owners["/admin/team"]
    # staff: the same, less the team's (but for their own e-mails' setting)
    assert staffs == {
        p: [a for a in forms if not a.startswith("/admin/team") or a == "/admin/team/mail"]
        for p, forms in owners.items()
    }
    assert [p.name for p in await shop.platform.store.products.all()] == ["Lamp"]


def test_a_form_without_a_usable_submit_button_is_not_counted() -> None:
    page = (
        '<form method="post" action="/admin/x"><button type="submit">Go</button></form>'
        '<form method="post" action="/admin/y"><button disabled>Go</button></form>'
        '<form method="get" action="/admin/z"><button>Find</button></form>'
        '<form method="post" action="/admin/signout"><button>Sign out</button></form>'
    )
    assert change_forms(page) == ["/admin/x"]
