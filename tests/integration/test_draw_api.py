"""Draw launches and word of mouth over HTTP, each on a server of its own.

A draw is published before it happens (a commitment to its seed and the entries), drawn at
the opening, checked by `soldout verify-draw` from the public document alone, and kept
going by its backups when a winner lets the unit go. Word of mouth: a referrer's points,
level and earned priority code follow the paid orders of the fans it brought in.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support import (
    ServerProcess,
    claim,
    create_launch,
    error,
    eventually,
    iso,
    now,
    register,
    shipping_address,
)

WINDOW = 10  # the shortest payment window a launch may have
OPENS_IN = 3.0  # seconds from creating the draw launch to its draw
UNITS = 2
ENTRANTS = 6


# -- helpers ---------------------------------------------------------------------------


def auth(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


def draw_of(client: httpx.Client, launch_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/launches/{launch_id}/draw")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def notifications(client: httpx.Client, fan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/me/notifications", headers=auth(fan))
    assert response.status_code == 200, response.text
    return [n for n in response.json() if n["kind"] == kind]


def won(client: httpx.Client, fan: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """The fan's one `draw_won` notification, once it is there."""
    found = eventually(lambda: notifications(client, fan, "draw_won"), lambda n: bool(n), timeout)
    assert len(found) == 1, found
    return found[0]


def claim_now(client: httpx.Client, claim_id: str, fan: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/v1/claims/{claim_id}", headers=auth(fan))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def pay(client: httpx.Client, claim_id: str, fan: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers={**auth(fan), "idempotency-key": uuid.uuid4().hex},
    )
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def buy(client: httpx.Client, launch_id: str, fan: dict[str, Any], **body: Any) -> dict[str, Any]:
    """Claim one unit of A and pay for it: the order."""
    held = claim(client, launch_id, fan["token"], **body)
    assert held.status_code == 201, held.text
    return pay(client, held.json()["id"], fan)


def verify_draw(source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "soldout", "verify-draw", source],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def me(client: httpx.Client, fan: dict[str, Any]) -> dict[str, Any]:
    response = client.get("/api/v1/me", headers=auth(fan))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def register_referred(client: httpx.Client, referral_code: str) -> dict[str, Any]:
    name = uuid.uuid4().hex[:12]
    response = client.post(
        "/api/v1/fans",
        json={
            "email": f"{name}@fans.test",
            "name": name,
            "referral_code": referral_code,
            "shipping": shipping_address(name),
        },
    )
    assert response.status_code == 201, response.text
    fan: dict[str, Any] = response.json()
    return fan


# -- draws -----------------------------------------------------------------------------


def test_a_draw_is_committed_drawn_verified_passed_on_to_backups_and_kept(
    server: ServerProcess, tmp_path: Path
) -> None:
    with server.admin() as admin, server.client() as anyone:
        launch = create_launch(
            admin,
            batch={"A": UNITS},
            opens_in=OPENS_IN,
            mode="draw",
            reservations_open_at=iso(now()),
            payment_window_seconds=WINDOW,
        )
        lid = launch["id"]
        fans = [register(anyone) for _ in range(ENTRANTS)]
        entry_of: dict[str, dict[str, Any]] = {}  # reservation id -> fan
        for fan in fans:
            entered = anyone.post(
                f"/api/v1/launches/{lid}/reservations", json={"sku": "A"}, headers=auth(fan)
            )
            assert entered.status_code == 201, entered.text
            assert entered.json()["sku"] == "A"
            entry_of[entered.json()["id"]] = fan

        # Before the draw: the commitment and the entries, no seed, no result.
        before = draw_of(anyone, lid)
        assert before["commitment"] == launch["draw_commitment"]
        assert len(before["commitment"]) == 64
        assert before["entries"] == [{"reservation_id": r, "sku": "A"} for r in sorted(entry_of)]
        assert (before["seed"], before["result"], before["units"]) == (None, None, {"A": UNITS})
        assert error(claim(anyone, lid, fans[0]["token"]))[0] == 409

        # The draw at opening: UNITS winners, held for them; the rest are backups, in order.
        drawn = eventually(lambda: draw_of(anyone, lid), lambda d: d["result"] is not None, 15)
        assert hashlib.sha256(bytes.fromhex(drawn["seed"])).hexdigest() == drawn["commitment"]
        assert drawn["commitment"] == before["commitment"]
        assert drawn["entries"] == before["entries"]
        winners = [entry_of[r] for r in drawn["result"]["A"]["winners"]]
        backups = [entry_of[r] for r in drawn["result"]["A"]["backups"]]
        assert (len(winners), len(backups)) == (UNITS, ENTRANTS - UNITS)
        assert {f["id"] for f in winners + backups} == {f["id"] for f in fans}

        claims: dict[str, str] = {}  # fan id -> claim id
        for fan in winners:
            note = won(anyone, fan)
            assert (note["data"]["launch_id"], note["data"]["backup"]) == (lid, False)
            held = claim_now(anyone, note["data"]["claim_id"], fan)
            assert (held["state"], held["sku"], held["quantity"]) == ("held", "A", 1)
            claims[fan["id"]] = held["id"]
        for fan in backups:
            assert notifications(anyone, fan, "draw_won") == []
        for fan in (winners[0], backups[0]):
            assert error(claim(anyone, lid, fan["token"]))[:2] == (409, "draw_only")
        stock = admin.get(f"/api/v1/launches/{lid}/stats").json()["skus"]["A"]
        assert (stock["held"], stock["available"]) == (UNITS, 0)

        # Anyone can check the published result; a tampered copy does not verify.
        url = f"{server.base_url}/api/v1/launches/{lid}/draw"
        checked = verify_draw(url)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "OK" in checked.stdout
        tampered = copy.deepcopy(drawn)
        result = tampered["result"]["A"]
        result["winners"][0], result["backups"][0] = result["backups"][0], result["winners"][0]
        forged = tmp_path / "tampered-draw.json"
        forged.write_text(json.dumps(tampered))
        refused = verify_draw(str(forged))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "FAILED" in refused.stdout

        # A winner lets the unit go: the first backup in draw order gets it.
        released = anyone.delete(
            f"/api/v1/claims/{claims[winners[0]['id']]}", headers=auth(winners[0])
        )
        assert released.status_code == 200, released.text
        note = won(anyone, backups[0])
        assert note["data"]["backup"] is True
        assert claim_now(anyone, note["data"]["claim_id"], backups[0])["state"] == "held"
        for fan in backups[1:]:
            assert notifications(anyone, fan, "draw_won") == []

        # A winner does not pay in time: the next backup gets the unit.
        eventually(
            lambda: claim_now(anyone, claims[winners[1]["id"]], winners[1])["state"],
            lambda state: state == "expired",
            WINDOW + 10,
        )
        note = won(anyone, backups[1])
        assert note["data"]["backup"] is True
        assert claim_now(anyone, note["data"]["claim_id"], backups[1])["state"] in {
            "held",
            "expired",
        }
        published = draw_of(anyone, lid)

    server.stop()
    server.start()
    with server.client() as anyone:
        assert draw_of(anyone, lid) == published == drawn


def test_a_draw_with_fewer_entries_than_units_publishes_the_same_record_after_a_restart(
    server: ServerProcess,
) -> None:
    with server.admin() as admin, server.client() as anyone:
        lid = create_launch(admin, batch={"A": 3, "B": 2}, opens_in=1.5, mode="draw")["id"]
        for fan in (register(anyone), register(anyone)):
            entered = anyone.post(
                f"/api/v1/launches/{lid}/reservations", json={"sku": "A"}, headers=auth(fan)
            )
            assert entered.status_code == 201, entered.text
        drawn = eventually(lambda: draw_of(anyone, lid), lambda d: d["result"] is not None, 15)
        assert drawn["units"] == {"A": 3, "B": 2}
        assert len(drawn["result"]["A"]["winners"]) == 2

    server.stop()
    server.start()
    with server.client() as anyone:
        assert draw_of(anyone, lid) == drawn


def test_a_refunded_draw_order_passes_its_unit_to_the_next_backup_who_is_told(
    server: ServerProcess,
) -> None:
    with server.admin() as admin, server.client() as anyone:
        lid = create_launch(
            admin,
            batch={"A": 1},
            opens_in=OPENS_IN,
            mode="draw",
            reservations_open_at=iso(now()),
            payment_window_seconds=WINDOW * 6,
        )["id"]
        entrants = {}
        for fan in (register(anyone) for _ in range(3)):
            entered = anyone.post(
                f"/api/v1/launches/{lid}/reservations", json={"sku": "A"}, headers=auth(fan)
            )
            assert entered.status_code == 201, entered.text
            entrants[entered.json()["id"]] = fan
        drawn = eventually(lambda: draw_of(anyone, lid), lambda d: d["result"] is not None, 15)
        (winner,) = [entrants[r] for r in drawn["result"]["A"]["winners"]]
        first, second = [entrants[r] for r in drawn["result"]["A"]["backups"]]
        order = pay(anyone, won(anyone, winner)["data"]["claim_id"], winner)
        assert notifications(anyone, first, "draw_won") == []

        # The maker refunds the winner's order before it ships: the unit goes to the first
        # backup, who is told and holds it; the second backup still waits.
        refunded = admin.post(
            f"/api/v1/orders/{order['id']}/refund",
            json={"reason": "the winner asked to cancel"},
        )
        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["status"] == "refunded"
        note = won(anyone, first)
        assert note["data"]["backup"] is True
        held = claim_now(anyone, note["data"]["claim_id"], first)
        assert (held["state"], held["sku"], held["quantity"]) == ("held", "A", 1)
        assert notifications(anyone, second, "draw_won") == []
        assert [n["kind"] for n in notifications(anyone, winner, "order_refunded")] == [
            "order_refunded"
        ]
        stock = admin.get(f"/api/v1/launches/{lid}/stats").json()["skus"]["A"]
        assert (stock["held"], stock["paid"], stock["available"]) == (1, 0, 0)


# -- word of mouth ---------------------------------------------------------------------


def test_a_referrer_earns_points_a_level_and_a_priority_code_from_referred_orders(
    server: ServerProcess,
) -> None:
    with server.admin() as admin, server.client() as anyone:
        launch = create_launch(
            admin, batch={"A": 20}, sale_closes_at=iso(now() + timedelta(hours=1))
        )
        lid = launch["id"]
        referrer = register(anyone)
        referred = [register_referred(anyone, referrer["referral_code"]) for _ in range(5)]
        referred_orders = [buy(anyone, lid, fan) for fan in referred]

        note = eventually(
            lambda: notifications(anyone, referrer, "priority_code_granted"), bool, 10
        )
        (granted,) = note
        (code,) = granted["data"]["codes"]
        assert granted["data"]["launch_id"] == lid
        standing = me(anyone, referrer)
        assert {
            k: standing[k]
            for k in (
                "points",
                "level",
                "next_level_at",
                "referred_fans",
                "referred_paid_orders",
                "priority_codes_granted",
                "referral_link",
                "referred_by",
            )
        } == {
            "points": 50,
            "level": "insider",
            "next_level_at": 200,
            "referred_fans": 5,
            "referred_paid_orders": 5,
            "priority_codes_granted": 1,
            "referral_link": f"/join?ref={referrer['referral_code']}",
            "referred_by": None,
        }
        assert me(anyone, referred[0])["referred_by"] == referrer["id"]

        # The granted code buys outside the race, and its CSV line names who it went to.
        exported = admin.get(f"/api/v1/launches/{lid}/priority-codes.csv").text
        assert f"{code},any SKU,1,,live,{referrer['id']}," in exported.splitlines()
        own = buy(anyone, lid, referrer, priority_code=code)
        assert own["status"] != "refunded"

        # A refund takes that order's points back, not the code.
        refunded = admin.post(
            f"/api/v1/orders/{referred_orders[0]['id']}/refund", json={"reason": "asked"}
        )
        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["status"] == "refunded"
        standing = me(anyone, referrer)
        assert (
            standing["points"],
            standing["level"],
            standing["referred_paid_orders"],
            standing["priority_codes_granted"],
        ) == (40, "friend", 4, 1)

        top = admin.get("/api/v1/referrals/top")
        assert top.status_code == 200, top.text
        assert top.json()[0] == {
            "fan_id": referrer["id"],
            "direct_referrals": 5,
            "referred_paid_orders": 4,
            "points": 40,
        }
        tree = admin.get(f"/api/v1/referrals/tree/{referrer['id']}")
        assert tree.status_code == 200, tree.text
        assert tree.json() == {
            "fan_id": referrer["id"],
            "direct_referrals": 5,
            "children": [
                {"fan_id": fan_id, "direct_referrals": 0, "children": []}
                for fan_id in sorted(f["id"] for f in referred)
            ],
        }

        listed = admin.get("/api/v1/orders", params={"launch_id": lid}).json()["orders"]
        live = [o for o in listed if o["status"] != "refunded"]
        via = sum(1 for o in live if o["id"] in {r["id"] for r in referred_orders})
        assert (len(live), via) == (5, 4)
        figures = admin.get(f"/api/v1/launches/{lid}/referrals")
        assert figures.status_code == 200, figures.text
        assert figures.json() == {
            "launch_id": lid,
            "paid_orders": len(live),
            "via_referral": via,
            "viral_figure": round(via / len(live), 4),
        }


def test_a_referral_to_oneself_is_refused_with_a_code(server: ServerProcess) -> None:
    """A second account behind the referrer's own address or phone earns its referrer
    nothing: it is refused (409 `self_referral` on `referral_code`) and nothing is made;
    the same person may still join without the code. Someone else at another address is
    welcome with it."""
    with server.client() as anyone:
        home = shipping_address("Ref Errer")
        referrer = anyone.post(
            "/api/v1/fans",
            json={"email": f"{uuid.uuid4().hex[:12]}@fans.test", "name": "Ref", "shipping": home},
        ).json()
        for same in (
            home,  # the same address and phone
            home | {"line1": home["line1"].upper(), "phone": "+31 20 7000000"},  # as typed
            shipping_address("Other") | {"phone": home["phone"]},  # the same phone
        ):
            body = {
                "email": f"{uuid.uuid4().hex[:12]}@fans.test",
                "name": "Me Again",
                "referral_code": referrer["referral_code"],
                "shipping": same,
            }
            refused = anyone.post("/api/v1/fans", json=body)
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["code"] == "self_referral"
            assert refused.json()["error"]["field"] == "referral_code"
            joined = anyone.post("/api/v1/fans", json={**body, "referral_code": None})
            assert joined.status_code == 201, joined.text  # nothing was made the first time
        friend = register_referred(anyone, referrer["referral_code"])
        assert friend["id"]
        assert me(anyone, referrer)["referred_fans"] == 1
