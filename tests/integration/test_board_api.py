"""The ideas board over HTTP: every rule a fan or the maker relies on, with the one error
contract. On the embedded server and on the scale-out one (owner and workers on
PostgreSQL and Redis), so each store keeps the board the same way."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, claim, create_launch, error, iso, now, register

pytestmark = pytest.mark.scale_out_too


def auth(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


def product(admin: httpx.Client, skus: tuple[str, ...] = ("BLK", "WHT")) -> str:
    body = {
        "name": f"Board {uuid.uuid4().hex[:6]}",
        "skus": [
            {"code": s, "name": s, "price": 1000, "currency": "EUR", "cost": 900} for s in skus
        ],
    }
    made = admin.post("/api/v1/products", json=body)
    assert made.status_code == 201, made.text
    announce(admin, made.json()["id"], skus)
    return str(made.json()["id"])


def announce(admin: httpx.Client, product_id: str, skus: tuple[str, ...]) -> None:
    """A launch of the product published (weeks ahead): its board is open to fans."""
    launch = {
        "product_id": product_id,
        "title": "announced",
        "sale_opens_at": iso(now() + timedelta(days=30)),
        "batch": dict.fromkeys(skus, 1),
        "race": "fast",
    }
    made = admin.post("/api/v1/launches", json=launch)
    assert made.status_code == 201, made.text


def post(client: httpx.Client, pid: str, fan: dict[str, Any], title: str, **more: Any) -> Any:
    made = client.post(
        f"/api/v1/products/{pid}/ideas", json={"title": title, **more}, headers=auth(fan)
    )
    assert made.status_code == 201, made.text
    return made.json()


def vote(client: httpx.Client, idea_id: str, fan: dict[str, Any]) -> Any:
    answer = client.put(f"/api/v1/ideas/{idea_id}/vote", headers=auth(fan))
    assert answer.status_code == 200, answer.text
    return answer.json()


def titles(client: httpx.Client, pid: str, **query: Any) -> list[str]:
    listed = client.get(f"/api/v1/products/{pid}/ideas", params=query)
    assert listed.status_code == 200, listed.text
    return [i["title"] for i in listed.json()["ideas"]]


def notes(client: httpx.Client, fan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    got = client.get("/api/v1/me/notifications", headers=auth(fan))
    assert got.status_code == 200, got.text
    return [n for n in got.json() if n["kind"] == kind]


def test_a_fan_posts_votes_once_and_takes_the_vote_back(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    pid = product(admin)
    ann, bob = register(anyone), register(anyone)
    idea = post(anyone, pid, ann, "A 128 GB model", text="**More** room", category="Storage")
    assert (idea["votes"], idea["voted"], idea["category"], idea["status"]) == (
        1,
        True,
        "storage",
        "open",
    )
    assert vote(anyone, idea["id"], bob) == {
        "idea_id": idea["id"],
        "voted": True,
        "new": True,
        "votes": 2,
    }
    assert vote(anyone, idea["id"], bob)["new"] is False  # a second click counts nothing
    seen = anyone.get(f"/api/v1/ideas/{idea['id']}", headers=auth(bob)).json()
    assert (seen["votes"], seen["voted"], seen["text"]) == (2, True, "**More** room")
    back = anyone.delete(f"/api/v1/ideas/{idea['id']}/vote", headers=auth(bob)).json()
    assert (back["removed"], back["votes"]) == (True, 1)
    again = anyone.delete(f"/api/v1/ideas/{idea['id']}/vote", headers=auth(bob)).json()
    assert (again["removed"], again["votes"]) == (False, 1)
    assert error(anyone.put(f"/api/v1/ideas/{idea['id']}/vote"))[:2] == (401, "unauthorized")


def test_bad_posts_get_a_clear_error_and_change_nothing(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    pid = product(admin)
    ann = register(anyone)
    url = f"/api/v1/products/{pid}/ideas"
    for body, field in (
        ({"title": "   "}, "title"),
        ({"title": "x" * 141}, "title"),
        ({"title": "ok", "kind": "wish"}, "kind"),
        ({"title": "ok\u202egpj"}, "title"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ):
        assert error(anyone.post(url, json=body, headers=auth(ann))) == (422, "invalid", field)
    missing = anyone.post("/api/v1/products/prd_nope/ideas", json={"title": "x"}, headers=auth(ann))
    assert error(missing) == (404, "not_found", None)
    assert error(anyone.get(f"{url}?sort=best"))[:3] == (422, "invalid", "sort")
    assert error(anyone.put("/api/v1/ideas/ida_nope/vote", headers=auth(ann)))[:2] == (
        404,
        "not_found",
    )
    assert titles(anyone, pid) == []


def test_hot_top_and_new_search_and_filters(anyone: httpx.Client, admin: httpx.Client) -> None:
    pid = product(admin)
    fans = [register(anyone) for _ in range(4)]
    old = post(anyone, pid, fans[0], "Wireless charging", category="power")
    popular = post(anyone, pid, fans[1], "A blue colour", category="looks")
    newest = post(anyone, pid, fans[2], "Colour matched case", category="looks")
    for fan in fans[2:]:
        vote(anyone, popular["id"], fan)
    vote(anyone, old["id"], fans[3])
    assert titles(anyone, pid, sort="top") == [popular["title"], old["title"], newest["title"]]
    assert titles(anyone, pid, sort="new") == [newest["title"], popular["title"], old["title"]]
    assert titles(anyone, pid, sort="hot")[0] == popular["title"]
    assert titles(anyone, pid, q="colour") == [popular["title"], newest["title"]]
    assert titles(anyone, pid, q="colour case") == [newest["title"]]
    assert titles(anyone, pid, category="power") == [old["title"]]
    listed = anyone.get(f"/api/v1/products/{pid}/ideas", params={"limit": 1, "offset": 1}).json()
    assert (listed["total"], len(listed["ideas"]), listed["categories"]) == (
        3,
        1,
        ["looks", "power"],
    )


def test_the_maker_answers_moves_and_declines_with_a_reason(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    pid = product(admin)
    ann = register(anyone)
    idea = post(anyone, pid, ann, "USB-C please")
    url = f"/api/v1/ideas/{idea['id']}"
    said = anyone.post(f"{url}/comments", json={"text": "Yes!"}, headers=auth(ann))
    assert (said.status_code, said.json()["official"]) == (201, False)
    answered = admin.post(f"{url}/answers", json={"text": "On it for batch 3."})
    assert (answered.status_code, answered.json()["official"]) == (201, True)
    assert error(anyone.patch(url, json={"status": "planned"}, headers=auth(ann)))[:2] == (
        403,
        "forbidden",
    )
    moved = admin.patch(url, json={"status": "planned"})
    assert moved.json()["status"] == "planned"
    (told,) = notes(anyone, ann, "idea_status")  # its voters are told (in the app)
    assert told["message"] == "An idea you voted for is planned: “USB-C please”."
    assert error(admin.patch(url, json={"status": "declined"})) == (422, "invalid", "reason")
    assert error(admin.patch(url, json={"status": "shipped"}))[:3] == (422, "invalid", "status")
    declined = admin.patch(url, json={"status": "declined", "reason": "Not this year"}).json()
    assert (declined["status"], declined["reason"]) == ("declined", "Not this year")
    assert error(anyone.put(f"{url}/vote", headers=auth(register(anyone))))[:2] == (
        409,
        "idea_closed",
    )
    page = anyone.get(url).json()
    assert [(c["official"], c["author"]) for c in page["comment_list"]] == [
        (False, page["author"]),
        (True, "the maker"),
    ]
    actions = [e["action"] for e in admin.get("/api/v1/audit", params={"limit": 10}).json()]
    assert {"idea.answer", "idea.move"} <= set(actions)


def test_merging_a_duplicate_moves_its_votes_each_fan_once(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    pid = product(admin)
    ann, bob, cat = register(anyone), register(anyone), register(anyone)
    first = post(anyone, pid, ann, "Dark mode")
    dup = post(anyone, pid, bob, "Night theme")
    vote(anyone, first["id"], cat)
    vote(anyone, dup["id"], cat)  # cat voted for both: counted once after the merge
    merged = admin.post(f"/api/v1/ideas/{dup['id']}/merge", json={"into": first["id"]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["into"]["votes"] == 3  # ann, cat, bob
    assert titles(anyone, pid) == ["Dark mode"]
    gone = anyone.get(f"/api/v1/ideas/{dup['id']}").json()
    assert (gone["status"], gone["merged_into"], gone["votes"]) == ("merged", first["id"], 0)
    assert error(anyone.put(f"/api/v1/ideas/{dup['id']}/vote", headers=auth(cat)))[:2] == (
        409,
        "idea_closed",
    )
    again = admin.post(f"/api/v1/ideas/{first['id']}/merge", json={"into": first["id"]})
    assert error(again) == (422, "invalid", "into")


def test_a_release_ships_ideas_and_tells_each_voter_once(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    pid = product(admin)
    ann, bob, cat = register(anyone), register(anyone), register(anyone)
    a = post(anyone, pid, ann, "Longer battery")
    b = post(anyone, pid, bob, "Louder speaker")
    vote(anyone, a["id"], cat)
    vote(anyone, b["id"], cat)
    c = post(anyone, pid, cat, "Not shipped")
    body = {"title": "firmware 1.4", "notes": "Two asks", "ideas": [a["id"], b["id"]]}
    made = admin.post(f"/api/v1/products/{pid}/releases", json=body)
    assert made.status_code == 201, made.text
    release = made.json()
    assert (release["fans_told"], [i["id"] for i in release["ideas"]]) == (3, [a["id"], b["id"]])
    for fan, asked in ((ann, [a["id"]]), (bob, [b["id"]]), (cat, [a["id"], b["id"]])):
        (told,) = notes(anyone, fan, "idea_shipped")
        assert told["data"]["release_id"] == release["id"]
        assert told["data"]["idea_ids"] == asked
    shipped = anyone.get(f"/api/v1/ideas/{a['id']}").json()
    assert (shipped["status"], shipped["release_id"]) == ("shipped", release["id"])
    assert anyone.get(f"/api/v1/ideas/{c['id']}").json()["status"] == "open"
    twice = admin.post(f"/api/v1/products/{pid}/releases", json={**body, "title": "again"})
    assert error(twice)[:2] == (409, "conflict")
    listed = anyone.get(f"/api/v1/products/{pid}/releases").json()
    assert [r["title"] for r in listed] == ["firmware 1.4"]


def test_a_poll_counts_one_answer_per_fan_and_buyers_apart(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    pid = product(admin, ("A", "B"))
    launch = admin.post(
        "/api/v1/launches",
        json={
            "product_id": pid,
            "title": "batch 1",
            "sale_opens_at": iso(now()),
            "batch": {"A": 5},
            "race": "fast",
        },
    ).json()
    buyer, fan = register(anyone), register(anyone)
    held = claim(anyone, launch["id"], buyer["token"])
    assert held.status_code == 201, held.text
    paid = anyone.post(
        f"/api/v1/claims/{held.json()['id']}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers={**auth(buyer), "idempotency-key": uuid.uuid4().hex},
    )
    assert paid.status_code == 200, paid.text
    body = {"question": "Which colour next?", "options": [{"label": "Black", "sku": "A"}]}
    assert error(admin.post(f"/api/v1/products/{pid}/polls", json=body))[:3] == (
        422,
        "invalid",
        "options",
    )
    body["options"].append({"label": "White", "sku": "B"})
    poll = admin.post(f"/api/v1/products/{pid}/polls", json=body).json()
    url = f"/api/v1/polls/{poll['id']}"
    for who, option in ((buyer, "1"), (fan, "2"), (fan, "1")):
        answered = anyone.put(f"{url}/answer", json={"option": option}, headers=auth(who))
        assert answered.status_code == 200, answered.text
    assert error(anyone.put(f"{url}/answer", json={"option": "9"}, headers=auth(fan))) == (
        422,
        "invalid",
        "option",
    )
    seen = anyone.get(url, headers=auth(fan)).json()
    assert ([o["answers"] for o in seen["options"]], seen["your_answer"]) == ([2, 0], "1")
    assert [o["buyers"] for o in seen["options"]] == [1, 0]  # verified buyers, apart
    admin.patch(url, json={"closed": True})
    late = anyone.put(f"{url}/answer", json={"option": "2"}, headers=auth(buyer))
    assert error(late)[:2] == (409, "poll_closed")


def test_demand_suggests_a_split_from_waiting_reservations_and_a_poll(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    body = {
        "name": "Demand",
        "skus": [
            {"code": c, "name": c, "price": 1000, "currency": "EUR", "cost": 900}
            for c in ("A", "B")
        ],
    }
    pid = admin.post("/api/v1/products", json=body).json()["id"]
    launch = admin.post(
        "/api/v1/launches",
        json={
            "product_id": pid,
            "title": "batch 2",
            "sale_opens_at": "2099-01-01T00:00:00Z",
            "reservations_open_at": "2020-01-01T00:00:00Z",
            "batch": {"A": 1, "B": 1},
            "race": "fast",
        },
    ).json()
    for _ in range(4):
        fan = register(anyone)
        made = anyone.post(
            f"/api/v1/launches/{launch['id']}/reservations", json={}, headers=auth(fan)
        )
        assert made.status_code in (200, 201), made.text
    poll_body = {
        "question": "Which colour?",
        "options": [{"label": "Black", "sku": "A"}, {"label": "White", "sku": "B"}],
    }
    poll = admin.post(f"/api/v1/products/{pid}/polls", json=poll_body).json()
    for option in ("1", "1", "1", "2"):
        anyone.put(
            f"/api/v1/polls/{poll['id']}/answer",
            json={"option": option},
            headers=auth(register(anyone)),
        )
    seen = admin.get(f"/api/v1/products/{pid}/demand").json()
    assert (seen["waiting"], seen["total"]) == ({"": 4}, 4)
    assert seen["suggested"] == {"A": 3, "B": 1}  # 4 waiting split 3:1 as the poll, + answers
    sized = admin.get(f"/api/v1/products/{pid}/demand", params={"total": 100}).json()
    assert sum(sized["suggested"].values()) == 100
    assert sized["suggested"]["A"] == 75
    assert error(anyone.get(f"/api/v1/products/{pid}/demand"))[:2] == (401, "unauthorized")


def test_reports_hiding_and_barring_are_audited(anyone: httpx.Client, admin: httpx.Client) -> None:
    pid = product(admin)
    ann, bob = register(anyone), register(anyone)
    idea = post(anyone, pid, ann, "Buy my stuff at spam.example")
    made = anyone.post(
        "/api/v1/reports", json={"subject_id": idea["id"], "reason": "spam"}, headers=auth(bob)
    )
    assert made.status_code == 201, made.text
    open_reports = admin.get(f"/api/v1/products/{pid}/board/reports").json()
    assert [r["subject_id"] for r in open_reports] == [idea["id"]]
    hidden = admin.put(f"/api/v1/board/posts/{idea['id']}/hidden", json={"hidden": True})
    assert hidden.json() == {"id": idea["id"], "hidden": True}
    unknown = admin.put("/api/v1/board/posts/cmt_nobodys/hidden", json={"hidden": True})
    assert error(unknown)[:2] == (404, "not_found")
    assert unknown.json()["error"]["message"].startswith("comment")  # not "idea not found"
    assert titles(anyone, pid) == []
    assert error(anyone.get(f"/api/v1/ideas/{idea['id']}"))[:2] == (404, "not_found")
    listed = anyone.get(f"/api/v1/products/{pid}/ideas").json()
    assert listed["categories"] == []  # (nothing of a hidden post shows)
    again = anyone.post(
        "/api/v1/reports", json={"subject_id": idea["id"], "reason": "x"}, headers=auth(bob)
    )
    assert error(again)[:2] == (404, "not_found")  # a hidden post is not there for fans
    assert admin.get(f"/api/v1/ideas/{idea['id']}").json()["hidden"] is True
    assert admin.get(f"/api/v1/products/{pid}/board/reports").json() == []
    barred = admin.put(
        f"/api/v1/fans/{ann['id']}/board-bar", json={"barred": True, "reason": "spam"}
    )
    assert barred.status_code == 200, barred.text
    refused = anyone.post(f"/api/v1/products/{pid}/ideas", json={"title": "x"}, headers=auth(ann))
    assert error(refused)[:2] == (403, "barred")
    assert error(admin.put(f"/api/v1/fans/{ann['id']}/board-bar", json={"barred": True})) == (
        422,
        "invalid",
        "reason",
    )
    admin.put(f"/api/v1/fans/{ann['id']}/board-bar", json={"barred": False})
    post(anyone, pid, ann, "A fair idea")
    actions = [e["action"] for e in admin.get("/api/v1/audit", params={"limit": 20}).json()]
    assert {"post.hide", "fan.bar", "fan.unbar"} <= set(actions)


def test_a_new_account_may_post_three_times_an_hour(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    pid = product(admin)
    ann = register(anyone)
    idea = post(anyone, pid, ann, "One")
    post(anyone, pid, ann, "Two")
    said = anyone.post(
        f"/api/v1/ideas/{idea['id']}/comments", json={"text": "3"}, headers=auth(ann)
    )
    assert said.status_code == 201
    fourth = anyone.post(f"/api/v1/products/{pid}/ideas", json={"title": "4"}, headers=auth(ann))
    assert error(fourth)[:2] == (429, "rate_limited")
    assert 3000 < int(fourth.headers["retry-after"]) <= 3600
    vote(anyone, idea["id"], register(anyone))  # votes are not posts: never limited so


def test_taking_part_earns_points_and_the_top_contributors_get_codes(
    anyone: httpx.Client, admin: httpx.Client, shared_server: ServerProcess
) -> None:
    pid = product(admin, ("A", "B"))
    launch = admin.post(
        "/api/v1/launches",
        json={
            "product_id": pid,
            "title": "batch 3",
            "sale_opens_at": "2099-01-01T00:00:00Z",
            "batch": {"A": 10},
            "race": "fast",
        },
    ).json()
    ann, bob, cat = register(anyone), register(anyone), register(anyone)
    idea = post(anyone, pid, ann, "Shipped one")
    for fan in (bob, cat):
        vote(anyone, idea["id"], fan)
    said = anyone.post(
        f"/api/v1/ideas/{idea['id']}/comments", json={"text": "Use a clip"}, headers=auth(bob)
    ).json()
    admin.put(f"/api/v1/comments/{said['id']}/useful", json={"useful": True})
    admin.post(f"/api/v1/products/{pid}/releases", json={"title": "r1", "ideas": [idea["id"]]})
    me = anyone.get("/api/v1/me", headers=auth(ann)).json()
    # one idea shipped; the votes of accounts a day old or less earn nothing (a day later
    # they would: tests/integration/test_board_points.py)
    assert me["points"] == 20
    assert anyone.get("/api/v1/me", headers=auth(bob)).json()["points"] == 5
    top = admin.get(f"/api/v1/products/{pid}/contributors").json()
    assert [(t["fan_id"], t["points"]) for t in top] == [(ann["id"], 20), (bob["id"], 5)]
    url = f"/api/v1/products/{pid}/contributors/codes"
    given = admin.post(url, json={"launch_id": launch["id"], "top": 1}).json()["given"]
    assert [g["fan_id"] for g in given] == [ann["id"]]
    (note,) = notes(anyone, ann, "contributor_code")
    assert note["data"]["codes"] == [given[0]["code"]]
    more = admin.post(url, json={"launch_id": launch["id"], "top": 2}).json()["given"]
    assert [g["fan_id"] for g in more] == [bob["id"]]  # ann has hers: no second code
    other = create_launch(admin)
    assert error(admin.post(url, json={"launch_id": other["id"], "top": 1})) == (
        422,
        "invalid",
        "launch_id",
    )


def test_concurrent_clicks_make_one_vote_per_fan(
    admin: httpx.Client, anyone: httpx.Client, shared_server: ServerProcess
) -> None:
    pid = product(admin)
    author = register(anyone)
    idea = post(anyone, pid, author, "Race me")
    clickers = [register(anyone) for _ in range(20)]

    async def storm() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=shared_server.base_url, limits=limits) as client:
            presses = [
                client.put(f"/api/v1/ideas/{idea['id']}/vote", headers=auth(fan))
                for fan in clickers
                for _ in range(10)  # each fan clicks ten times at once
            ]
            answers = await asyncio.gather(*presses)
        return [a.status_code for a in answers]

    assert set(asyncio.run(storm())) == {200}
    seen = anyone.get(f"/api/v1/ideas/{idea['id']}").json()
    assert seen["votes"] == 1 + len(clickers)


def test_a_double_publish_ships_once_and_tells_each_voter_once(
    admin: httpx.Client, anyone: httpx.Client, shared_server: ServerProcess
) -> None:
    pid = product(admin)
    ann, bob = register(anyone), register(anyone)
    idea = post(anyone, pid, ann, "Ship me once")
    vote(anyone, idea["id"], bob)
    body = {"title": "one release", "ideas": [idea["id"]]}

    async def double_click() -> list[int]:
        headers = {"authorization": admin.headers["authorization"]}
        async with httpx.AsyncClient(base_url=shared_server.base_url, headers=headers) as maker:
            url = f"/api/v1/products/{pid}/releases"
            answers = await asyncio.gather(*(maker.post(url, json=body) for _ in range(5)))
        return sorted(a.status_code for a in answers)

    assert asyncio.run(double_click()) == [201, 409, 409, 409, 409]
    for fan in (ann, bob):
        assert len(notes(anyone, fan, "idea_shipped")) == 1
    assert len(anyone.get(f"/api/v1/products/{pid}/releases").json()) == 1


def test_a_new_accounts_pace_holds_under_concurrent_posts(
    admin: httpx.Client, anyone: httpx.Client, shared_server: ServerProcess
) -> None:
    pid = product(admin)
    ann = register(anyone)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=shared_server.base_url) as client:
            url = f"/api/v1/products/{pid}/ideas"
            posts = (
                client.post(url, json={"title": f"idea {i}"}, headers=auth(ann)) for i in range(10)
            )
            answers = await asyncio.gather(*posts)
        return sorted(a.status_code for a in answers)

    assert asyncio.run(burst()) == [201] * 3 + [429] * 7
    assert len(titles(anyone, pid)) == 3


def test_votes_cast_during_a_merge_are_refused_or_moved_never_stranded(
    admin: httpx.Client, anyone: httpx.Client, shared_server: ServerProcess
) -> None:
    pid = product(admin)
    first = post(anyone, pid, register(anyone), "Keep me")
    dup = post(anyone, pid, register(anyone), "Merge me")
    voters = [register(anyone) for _ in range(15)]

    async def merge_amid_votes() -> list[tuple[str, int]]:
        headers = {"authorization": admin.headers["authorization"]}
        async with (
            httpx.AsyncClient(base_url=shared_server.base_url, headers=headers) as maker,
            httpx.AsyncClient(base_url=shared_server.base_url) as fans,
        ):
            votes = [fans.put(f"/api/v1/ideas/{dup['id']}/vote", headers=auth(f)) for f in voters]
            merge = maker.post(f"/api/v1/ideas/{dup['id']}/merge", json={"into": first["id"]})
            answers = await asyncio.gather(*votes[:8], merge, *votes[8:])
        return [(str(a.request.url), a.status_code) for a in answers]

    answered = asyncio.run(merge_amid_votes())
    (merged,) = [code for url, code in answered if url.endswith("/merge")]
    votes = [code for url, code in answered if url.endswith("/vote")]
    assert merged == 200
    assert set(votes) <= {200, 409}
    kept = anyone.get(f"/api/v1/ideas/{first['id']}").json()["votes"]
    assert kept == 2 + votes.count(200)  # both authors, and every vote answered yes
    assert anyone.get(f"/api/v1/ideas/{dup['id']}").json()["votes"] == 0


def test_a_product_not_yet_announced_has_no_board_for_fans(
    anyone: httpx.Client, admin: httpx.Client
) -> None:
    """A product whose only launch is a draft does not exist for fans: its board, its
    releases and polls answer 404 to them (its name never shows), the maker sees them."""
    body = {
        "name": "Secret Model Two",
        "skus": [{"code": "A", "name": "A", "price": 1000, "currency": "EUR", "cost": 900}],
    }
    pid = admin.post("/api/v1/products", json=body).json()["id"]
    launch = {"product_id": pid, "title": "soon", "sale_opens_at": iso(now() + timedelta(days=9)),
              "batch": {"A": 5}, "race": "fast", "draft": True}  # fmt: skip
    secret = admin.post("/api/v1/launches", json=launch)
    assert secret.status_code == 201, secret.text
    poll = admin.post(
        f"/api/v1/products/{pid}/polls",
        json={"question": "Which colour?", "options": [{"label": "Red"}, {"label": "Blue"}]},
    )
    assert poll.status_code == 201, poll.text
    fan = register(anyone)
    board = f"/api/v1/products/{pid}"
    paths = [f"{board}/ideas", f"{board}/polls", f"{board}/releases"]
    for path in [*paths, f"/api/v1/polls/{poll.json()['id']}"]:
        assert error(anyone.get(path, headers=auth(fan)))[:2] == (404, "not_found"), path
    posted = anyone.post(f"/api/v1/products/{pid}/ideas", json={"title": "hi"}, headers=auth(fan))
    assert error(posted)[:2] == (404, "not_found")
    page = anyone.get(f"/products/{pid}/ideas", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert "Secret Model Two" not in page.text
    assert admin.get(f"/api/v1/products/{pid}/ideas").status_code == 200  # the maker's

    published = admin.patch(f"/api/v1/launches/{secret.json()['id']}", json={"published": True})
    assert published.status_code == 200, published.text
    post(anyone, pid, fan, "Make it red")
    assert titles(anyone, pid) == ["Make it red"]
