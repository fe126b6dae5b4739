"""What a maker may change about a sale under way: its opening stays once fans hold or
bought units, and the admin's "Extend" only moves the close later (both found by an
outside test: a past time given to Extend closed a live sale, and a moved opening sent a
sale with paid orders back to "scheduled")."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.integration.test_admin_pages import browser, csrf_of
from tests.support import ServerProcess, claim, create_launch, error, iso, now, register

__all__ = ["browser"]  # (the fixture, used by name)


def test_the_opening_of_a_sale_fans_hold_units_of_cannot_move(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    untouched = create_launch(admin)
    later = iso(now() + timedelta(hours=1))
    moved = admin.patch(f"/api/v1/launches/{untouched['id']}", json={"sale_opens_at": later})
    assert (moved.status_code, moved.json()["status"]) == (200, "scheduled")  # nobody came yet

    launch = create_launch(admin)
    assert claim(anyone, launch["id"], register(anyone)["token"]).status_code == 201
    refused = admin.patch(f"/api/v1/launches/{launch['id']}", json={"sale_opens_at": later})
    assert error(refused) == (422, "invalid", "sale_opens_at")
    assert "pause" in refused.json()["error"]["message"]
    after = admin.get(f"/api/v1/launches/{launch['id']}").json()
    assert (after["status"], after["sale_opens_at"]) == ("on_sale", launch["sale_opens_at"])
    same = admin.patch(  # the opening as it is, to the second (as a form sends it)
        f"/api/v1/launches/{launch['id']}", json={"sale_opens_at": launch["sale_opens_at"]}
    )
    assert same.status_code == 200, same.text


def test_extend_in_the_admin_moves_the_close_later_only(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, sale_closes_at=iso(now() + timedelta(hours=2)))
    path = f"/admin/launches/{launch['id']}/extend"
    token = csrf_of(browser.get(f"/admin/launches/{launch['id']}"))
    for when in (now() - timedelta(minutes=5), now() + timedelta(hours=1)):  # past, earlier
        value = when.strftime("%Y-%m-%dT%H:%M:%S")
        refused = browser.post(path, data={"csrf": token, "sale_closes_at": value})
        assert refused.status_code == 400
        assert "later than the current one" in refused.text
        with shared_server.admin() as admin:
            kept = admin.get(f"/api/v1/launches/{launch['id']}").json()
        assert (kept["status"], kept["sale_closes_at"]) == ("on_sale", launch["sale_closes_at"])
    later = (now() + timedelta(hours=3)).replace(microsecond=0)
    done = browser.post(
        path, data={"csrf": token, "sale_closes_at": later.strftime("%Y-%m-%dT%H:%M:%S")}
    )
    assert done.status_code == 303
    with shared_server.admin() as admin:
        extended = admin.get(f"/api/v1/launches/{launch['id']}").json()["sale_closes_at"]
    assert extended.startswith(later.strftime("%Y-%m-%dT%H:%M:%S"))


def test_the_schedule_form_refuses_an_empty_title_and_audits_only_what_changed(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        launch = create_launch(admin, opens_in=3600)
    path = f"/admin/launches/{launch['id']}/change"
    token = csrf_of(browser.get(f"/admin/launches/{launch['id']}"))
    shown = launch["sale_opens_at"][:19]  # as the form shows it, to the second
    emptied = browser.post(path, data={"csrf": token, "title": " ", "sale_opens_at": shown})
    assert emptied.status_code == 400
    assert "the launch needs a title" in emptied.text
    renamed = browser.post(
        path, data={"csrf": token, "title": "Drop two", "sale_opens_at": shown, "batch_A": "60"}
    )
    assert renamed.status_code == 303, renamed.text
    with shared_server.admin() as admin:
        after = admin.get(f"/api/v1/launches/{launch['id']}").json()
        entry = next(e for e in admin.get("/api/v1/audit").json() if e["subject"] == launch["id"])
    assert (after["title"], after["sale_opens_at"]) == ("Drop two", launch["sale_opens_at"])
    assert (entry["action"], entry["detail"]) == (
        "launch.change",
        {"title": "Drop two", "batch": {"A": 60}},
    )


def test_neither_form_ends_a_live_sale_by_a_time_in_the_past(
    browser: httpx.Client, shared_server: ServerProcess
) -> None:
    with shared_server.admin() as admin:
        open_ended = create_launch(admin)  # on sale, no closing time
    page = f"/admin/launches/{open_ended['id']}"
    token = csrf_of(browser.get(page))
    later = (now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    extend = browser.post(f"{page}/extend", data={"csrf": token, "sale_closes_at": later})
    assert extend.status_code == 400
    assert "no closing time, so there is nothing to extend" in extend.text
    past = (now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    shown = open_ended["sale_opens_at"][:19]
    typo = browser.post(
        f"{page}/change", data={"csrf": token, "sale_opens_at": shown, "sale_closes_at": past}
    )
    assert typo.status_code == 400
    assert "would end the sale now" in typo.text
    as_shown = browser.post(f"{page}/change", data={"csrf": token, "sale_opens_at": shown})
    assert as_shown.headers["location"].endswith("done=unchanged")
    with shared_server.admin() as admin:
        after = admin.get(f"/api/v1/launches/{open_ended['id']}").json()
        logged = [e for e in admin.get("/api/v1/audit").json() if e["subject"] == after["id"]]
    assert (after["status"], after["sale_closes_at"]) == ("on_sale", None)
    assert [e["action"] for e in logged] == ["launch.create"]  # nothing changed, or logged
