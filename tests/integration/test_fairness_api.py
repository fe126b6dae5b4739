"""Fair access over HTTP: reservations and account age, the waiting room, proof of work,
per-fan rate limits, duplicate buyers, the maker's emergency controls and priority codes.

Most tests run on `shared_server` (per-fan rate limits off) and make their own launches
and fans. Where a rule depends on real time (an opening, an admission, a code's expiry)
the test waits for the state itself, read over HTTP, with a deadline.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from soldout.domain.pow import leading_zero_bits, solve
from tests.support import (
    ADMIN_TOKEN,
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

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

POW_BITS = 12  # about 4,000 hashes a challenge: fast in a test, still a real proof
ROOM_RATE = 0.5  # fans per second: the next admission after the burst is 2 s away
CODES_HEADER = ["code", "sku", "any_sku", "expires_at", "state", "granted_to", "redeemed_sku"]


# -- helpers ---------------------------------------------------------------------------


def auth(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


def claim_with(
    client: httpx.Client,
    launch_id: str,
    fan: dict[str, Any],
    *,
    admission: str | None = None,
    proof: str | None = None,
    key: str | None = None,
    sku: str = "A",
    **body: Any,
) -> httpx.Response:
    """A claim carrying the gate's headers (`Admission-Token`, `Proof-Of-Work`)."""
    headers = {**auth(fan), "idempotency-key": key or uuid.uuid4().hex}
    if admission is not None:
        headers["admission-token"] = admission
    if proof is not None:
        headers["proof-of-work"] = proof
    return client.post(
        f"/api/v1/launches/{launch_id}/claims", json={"sku": sku, **body}, headers=headers
    )


def launch_of(client: httpx.Client, launch_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/launches/{launch_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sku_of(launch: dict[str, Any], code: str = "A") -> dict[str, Any]:
    (found,) = [s for s in launch["skus"] if s["code"] == code]
    return found


def stats(admin: httpx.Client, launch_id: str) -> dict[str, Any]:
    response = admin.get(f"/api/v1/launches/{launch_id}/stats")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_on_sale(client: httpx.Client, launch_id: str, timeout: float = 10.0) -> None:
    eventually(lambda: launch_of(client, launch_id)["status"], lambda s: s == "on_sale", timeout)


def reserve(client: httpx.Client, launch_id: str, fan: dict[str, Any]) -> httpx.Response:
    return client.post(f"/api/v1/launches/{launch_id}/reservations", headers=auth(fan))


def held(client: httpx.Client, launch_id: str, fan: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = claim(client, launch_id, fan["token"], **kw)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def pay(client: httpx.Client, claim_id: str, fan: dict[str, Any]) -> dict[str, Any]:
    """Pay, shipping to the address the fan has on file."""
    response = client.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers={**auth(fan), "idempotency-key": uuid.uuid4().hex},
    )
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def notifications(client: httpx.Client, fan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/me/notifications", headers=auth(fan))
    assert response.status_code == 200, response.text
    return [n for n in response.json() if n["kind"] == kind]


def issue_codes(admin: httpx.Client, launch_id: str, **body: Any) -> list[dict[str, Any]]:
    response = admin.post(f"/api/v1/launches/{launch_id}/priority-codes", json=body)
    assert response.status_code == 201, response.text
    codes: list[dict[str, Any]] = response.json()["codes"]
    return codes


def register_at(client: httpx.Client, address: str) -> dict[str, Any]:
    """A fan whose shipping address is `address` (in Amsterdam; a phone of their own)."""
    name = uuid.uuid4().hex[:12]
    shipping = {**shipping_address(name), "line1": address}
    response = client.post(
        "/api/v1/fans", json={"email": f"{name}@fans.test", "name": name, "shipping": shipping}
    )
    assert response.status_code == 201, response.text
    fan: dict[str, Any] = response.json()
    return fan


def same_address_three_ways() -> list[str]:
    """One flat, spelled as three people would type it; the house number keeps it apart
    from every other test's fans (the duplicate index spans the whole server)."""
    number = uuid.uuid4().int % 10**9
    return [
        f"{number} Main Street, Apt 4",
        f"{number} main st. apt 4",
        f"{number} MAIN ST #4",
    ]


def room(client: httpx.Client, launch_id: str, fan: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/v1/launches/{launch_id}/waiting-room", headers=auth(fan))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def join(client: httpx.Client, launch_id: str, fan: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/launches/{launch_id}/waiting-room", headers=auth(fan))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def challenge(client: httpx.Client, launch_id: str, fan: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/launches/{launch_id}/challenge", headers=auth(fan))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wrong_nonce(token: str, difficulty: int) -> str:
    """The first nonce that does not solve the challenge."""
    nonce = 0
    while leading_zero_bits(hashlib.sha256(f"{token}:{nonce}".encode()).digest()) >= difficulty:
        nonce += 1
    return str(nonce)


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


# -- reservations and account age ------------------------------------------------------


def test_one_reservation_per_fan_and_a_reserved_sale_is_for_those_who_reserved(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 5}, opens_in=1.5, reservation_required=True)
    reserved, latecomer = register(anyone), register(anyone)

    first = reserve(anyone, launch["id"], reserved)
    again = reserve(anyone, launch["id"], reserved)
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert first.json()["fan_id"] == reserved["id"]
    assert launch_of(anyone, launch["id"])["reservations"] == 1

    wait_on_sale(anyone, launch["id"])
    assert error(claim(anyone, launch["id"], latecomer["token"])) == (
        403,
        "reservation_required",
        None,
    )
    assert held(anyone, launch["id"], reserved)["sku"] == "A"


def test_an_account_age_rule_lets_only_older_accounts_reserve(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    old = register(anyone)
    cutoff = now()  # after the old fan registered, before the new one does
    new = register(anyone)
    launch = create_launch(
        admin, opens_in=60, reservation_required=True, registered_before=iso(cutoff)
    )
    assert parse(launch["registered_before"]) == cutoff

    assert error(reserve(anyone, launch["id"], new)) == (403, "account_too_new", None)
    allowed = reserve(anyone, launch["id"], old)
    assert allowed.status_code == 201, allowed.text
    assert launch_of(anyone, launch["id"])["reservations"] == 1


# -- the waiting room ------------------------------------------------------------------


def test_the_waiting_room_draws_early_fans_at_opening_and_admits_them_with_a_token(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(
        admin, batch={"A": 10}, opens_in=1.5, waiting_room_rate=ROOM_RATE, waiting_room_burst=1
    )
    lid = launch["id"]
    early = [register(anyone) for _ in range(4)]
    for fan in early:
        joined = join(anyone, lid, fan)
        assert (joined["state"], joined["position"], joined["admission_token"]) == (
            "waiting",
            None,
            None,
        )
    assert join(anyone, lid, early[0])["state"] == "waiting"  # joining again keeps the place

    # The first read after opening draws the early crowd; from then until the next
    # admission (1 / ROOM_RATE s later) the room stands still: one admitted by the burst,
    # the others in distinct places 1..N-1, whatever order they joined in.
    eventually(
        lambda: room(anyone, lid, early[0]),
        lambda v: v["state"] == "admitted" or v["position"] is not None,
        10,
    )
    late = register(anyone)
    views = {f["id"]: room(anyone, lid, f) for f in early}
    late_view = join(anyone, lid, late)
    size = stats(admin, lid)["waiting_room"]

    admitted = [f for f in early if views[f["id"]]["state"] == "admitted"]
    waiting = [f for f in early if views[f["id"]]["state"] == "waiting"]
    assert len(admitted) == 1, views
    assert sorted(views[f["id"]]["position"] for f in waiting) == [1, 2, 3]
    for f in waiting:
        view = views[f["id"]]
        assert view["ahead"] == view["position"] - 1
        assert view["admission_token"] is None
        assert view["poll_after_seconds"] > 0
    assert (late_view["state"], late_view["position"]) == ("waiting", 4)  # behind them all
    assert size == {"waiting": 4, "admitted": 1, "admitted_total": 1, "abandoned_total": 0}

    (first,) = admitted
    token = views[first["id"]]["admission_token"]
    assert token
    assert parse(views[first["id"]]["admission_expires_at"]) > now()
    nobody = register(anyone)
    assert error(claim_with(anyone, lid, first)) == (403, "admission_required", None)
    assert error(claim_with(anyone, lid, first, admission="garbage")) == (
        403,
        "admission_invalid",
        None,
    )
    assert error(claim_with(anyone, lid, waiting[0], admission=token)) == (
        403,
        "admission_invalid",
        None,
    )
    assert error(claim_with(anyone, lid, nobody, admission=token)) == (
        403,
        "admission_invalid",
        None,
    )
    claimed = claim_with(anyone, lid, first, admission=token)
    assert claimed.status_code == 201, claimed.text

    (next_up,) = [f for f in waiting if views[f["id"]]["position"] == 1]
    assert error(claim_with(anyone, lid, next_up)) == (403, "admission_required", None)
    admitted_view = eventually(
        lambda: room(anyone, lid, next_up), lambda v: v["state"] == "admitted", 10
    )
    own = claim_with(anyone, lid, next_up, admission=admitted_view["admission_token"])
    assert own.status_code == 201, own.text

    (code,) = issue_codes(admin, lid, sku="A", count=1)
    with_code = claim_with(anyone, lid, nobody, priority_code=code["code"])
    assert with_code.status_code == 201, with_code.text  # a code skips the room

    size = stats(admin, lid)["waiting_room"]
    assert size["admitted_total"] >= 2
    assert size["admitted"] == size["admitted_total"]  # none has expired yet (120 s)
    assert size["waiting"] + size["admitted_total"] == 5
    assert size["abandoned_total"] == 0


def test_a_launch_without_a_waiting_room_has_none(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin)
    fan = register(anyone)
    response = anyone.post(f"/api/v1/launches/{launch['id']}/waiting-room", headers=auth(fan))
    assert error(response)[:2] == (422, "no_waiting_room")
    assert stats(admin, launch["id"])["waiting_room"] is None


# -- proof of work ---------------------------------------------------------------------


def test_a_claim_needs_a_solved_challenge_spent_once(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 10}, per_fan_limit=2, pow_difficulty=POW_BITS)
    lid = launch["id"]
    assert launch["pow_difficulty"] == POW_BITS
    fan, other = register(anyone), register(anyone)
    issued = challenge(anyone, lid, fan)
    assert issued["difficulty"] == POW_BITS
    assert parse(issued["expires_at"]) > now()
    token = issued["token"]

    assert error(claim_with(anyone, lid, fan))[:2] == (403, "pow_required")
    bad = wrong_nonce(token, POW_BITS)
    assert error(claim_with(anyone, lid, fan, proof=f"{token}:{bad}"))[:2] == (403, "pow_invalid")

    proof = f"{token}:{solve(token, POW_BITS)}"
    assert error(claim_with(anyone, lid, other, proof=proof))[:2] == (403, "pow_invalid")
    key = uuid.uuid4().hex
    first = claim_with(anyone, lid, fan, proof=proof, key=key)
    assert first.status_code == 201, first.text

    reused = claim_with(anyone, lid, fan, proof=proof)  # a new purchase, the same proof
    assert error(reused)[:2] == (403, "pow_reused")
    replay = claim_with(anyone, lid, fan, proof=proof, key=key)  # the same purchase again
    assert replay.status_code == 200, replay.text
    assert replay.json() == first.json()
    assert error(claim_with(anyone, lid, other, proof=proof))[:2] == (403, "pow_invalid")

    fresh = challenge(anyone, lid, fan)["token"]
    second = claim_with(anyone, lid, fan, proof=f"{fresh}:{solve(fresh, POW_BITS)}")
    assert second.status_code == 201, second.text
    assert stats(admin, lid)["skus"]["A"]["held"] == 2


def test_a_launch_without_proof_of_work_issues_no_challenge(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin)
    response = anyone.post(
        f"/api/v1/launches/{launch['id']}/challenge", headers=auth(register(anyone))
    )
    assert error(response)[:2] == (422, "invalid")


# -- rate limits -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose fans may claim 2 times a second, 3 at once."""
    process = ServerProcess(
        tmp_path_factory.mktemp("limited") / "data",
        env={"SOLDOUT_RATE_LIMIT_FAN": "2", "SOLDOUT_RATE_LIMIT_FAN_BURST": "3"},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_a_fan_claiming_too_fast_is_told_when_to_retry_and_others_are_unaffected(
    limited: ServerProcess, tmp_path: Path
) -> None:
    with limited.admin() as admin, limited.client() as anyone:
        launch = create_launch(admin, batch={"A": 10})
        hasty, patient = register(anyone), register(anyone)
        # The burst of 3 passes (one buys, two hit the per-fan limit), the 4th does not.
        answers = [claim(anyone, launch["id"], hasty["token"]) for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [201, 409, 409]
        assert error(answers[3]) == (429, "rate_limited", None)
        assert int(answers[3].headers["retry-after"]) >= 1

        assert claim(anyone, launch["id"], patient["token"]).status_code == 201


# -- duplicate buyers ------------------------------------------------------------------


def test_duplicate_buyers_are_refused_under_the_cancel_rule(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(
        admin, batch={"A": 10}, opens_in=1.0, duplicate_rule="cancel", duplicate_limit=2
    )
    lid = launch["id"]
    assert launch["duplicate_rule"] == "cancel"
    household = [register_at(anyone, a) for a in same_address_three_ways()]
    neighbour = register_at(anyone, f"{uuid.uuid4().int % 10**9} Main Street, Apt 5")
    for fan in [*household, neighbour]:
        assert reserve(anyone, lid, fan).status_code == 201

    wait_on_sale(anyone, lid)
    for fan in household:  # a group over the limit: every one of its fans, the first too
        assert error(claim(anyone, lid, fan["token"]))[:2] == (403, "duplicate_buyer")
    assert claim(anyone, lid, neighbour["token"]).status_code == 201

    response = admin.get(f"/api/v1/launches/{lid}/duplicates")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "launch_id": lid,
        "rule": "cancel",
        "limit": 2,
        "groups": [sorted(f["id"] for f in household)],
    }


def test_duplicate_buyers_buy_under_the_hold_rule_but_their_orders_do_not_ship(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 10}, duplicate_rule="hold", duplicate_limit=2)
    lid = launch["id"]
    household = [register_at(anyone, a) for a in same_address_three_ways()]
    neighbour = register_at(anyone, f"{uuid.uuid4().int % 10**9} Main Street, Apt 5")
    orders = {f["id"]: pay(anyone, held(anyone, lid, f)["id"], f) for f in [*household, neighbour]}

    listed = admin.get("/api/v1/orders", params={"launch_id": lid})
    assert listed.status_code == 200, listed.text
    held_for_review = {o["id"]: o["held_for_review"] for o in listed.json()["orders"]}
    assert held_for_review == {
        orders[f["id"]]["id"]: f is not neighbour for f in [*household, neighbour]
    }

    duplicates = admin.get(f"/api/v1/launches/{lid}/duplicates").json()
    assert (duplicates["rule"], duplicates["groups"]) == (
        "hold",
        [sorted(f["id"] for f in household)],
    )

    shipped = admin.post(
        f"/api/v1/products/{launch['product_id']}/skus/A/shipments",
        json={"count": 10, "carrier": "DHL"},
    )
    assert shipped.status_code == 200, shipped.text
    assert [o["id"] for o in shipped.json()["shipped"]] == [orders[neighbour["id"]]["id"]]

    held_order = orders[household[0]["id"]]["id"]
    listed_csv = admin.post(
        "/api/v1/shipments",
        content=f"order_id,carrier,tracking_number\n{held_order},DHL,JD01\n",
        headers={"content-type": "text/csv"},
    )
    assert error(listed_csv) == (409, "held_for_review", "line 2: order_id")


def order_status(client: httpx.Client, order: dict[str, Any], fan: dict[str, Any]) -> str:
    response = client.get(f"/api/v1/orders/{order['id']}", headers=auth(fan))
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def test_under_the_cancel_rule_orders_paid_before_the_group_was_flagged_are_refunded(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 10}, duplicate_rule="cancel", duplicate_limit=2)
    first, second, third = same_address_three_ways()
    early = [register_at(anyone, first), register_at(anyone, second)]  # at the limit: fine
    orders = [pay(anyone, held(anyone, launch["id"], f)["id"], f) for f in early]

    register_at(anyone, third)  # the group is now over the limit
    assert error(claim(anyone, launch["id"], register_at(anyone, first)["token"]))[1] == (
        "duplicate_buyer"
    )
    for order, fan in zip(orders, early, strict=True):
        eventually(lambda o=order, f=fan: order_status(anyone, o, f), "refunded".__eq__, 3)


def test_a_held_order_ships_once_the_maker_changes_the_duplicate_rule(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 10}, duplicate_rule="hold", duplicate_limit=2)
    household = [register_at(anyone, a) for a in same_address_three_ways()]
    (order, *_) = [pay(anyone, held(anyone, launch["id"], f)["id"], f) for f in household]

    relaxed = admin.patch(f"/api/v1/launches/{launch['id']}", json={"duplicate_rule": "allow"})
    assert relaxed.status_code == 200, relaxed.text
    shipped = admin.post(
        "/api/v1/shipments",
        content=f"order_id,carrier\n{order['id']},DHL\n",
        headers={"content-type": "text/csv"},
    )
    assert shipped.status_code == 200, shipped.text


# -- emergency controls ----------------------------------------------------------------


def test_pause_resume_extend_and_cancel_are_applied_and_audited(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    closes = now() + timedelta(hours=1)
    launch = create_launch(admin, batch={"A": 5}, opens_in=1.0, sale_closes_at=iso(closes))
    lid = launch["id"]
    waiting, buyer, bystander = register(anyone), register(anyone), register(anyone)
    assert reserve(anyone, lid, waiting).status_code == 201
    wait_on_sale(anyone, lid)

    paused = admin.patch(f"/api/v1/launches/{lid}", json={"paused": True})
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["paused_at"] is not None
    assert launch_of(anyone, lid)["status"] == "paused"
    assert error(claim(anyone, lid, buyer["token"]))[:2] == (409, "paused")

    resumed = admin.patch(f"/api/v1/launches/{lid}", json={"paused": False})
    assert (resumed.json()["status"], resumed.json()["paused_at"]) == ("on_sale", None)
    held(anyone, lid, buyer)

    later = closes + timedelta(hours=1)
    extended = admin.patch(f"/api/v1/launches/{lid}", json={"sale_closes_at": iso(later)})
    assert extended.status_code == 200, extended.text
    assert parse(extended.json()["sale_closes_at"]) == later

    cancelled = admin.patch(f"/api/v1/launches/{lid}", json={"cancel": True})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "closed"
    after = stats(admin, lid)
    assert after["skus"]["A"] == {
        "batch": 5,
        "available": 5,
        "open": 5,
        "unoffered": 0,
        "set_aside": 0,
        "held": 0,
        "paid": 0,
    }
    assert (after["claims"].get("held", 0), after["claims"]["cancelled"]) == (0, 1)
    (told,) = notifications(anyone, buyer, "launch_cancelled")
    assert told["data"] == {"launch_id": lid, "bought": False, "held": True}  # none bought
    (told,) = notifications(anyone, waiting, "launch_cancelled")
    assert told["data"] == {"launch_id": lid, "bought": False, "held": False, "draw": False}
    assert notifications(anyone, bystander, "launch_cancelled") == []
    assert error(claim(anyone, lid, bystander["token"]))[:2] == (409, "closed")

    log = admin.get("/api/v1/audit", params={"limit": 1000})
    assert log.status_code == 200, log.text
    assert ADMIN_TOKEN not in log.text
    mine = [e for e in log.json() if e["subject"] == lid]
    assert [e["action"] for e in mine] == [
        "launch.cancel",
        "launch.extend",
        "launch.resume",
        "launch.pause",
        "launch.create",
    ]
    fingerprint = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()[:12]
    assert {e["actor"] for e in mine} == {f"admin:{fingerprint}"}
    times = [parse(e["at"]) for e in log.json()]
    assert times == sorted(times, reverse=True)
    cancel, extend, resume, pause = (e["detail"] for e in mine[:4])
    assert (cancel, resume, pause) == ({"cancel": True}, {"paused": False}, {"paused": True})
    assert list(extend) == ["sale_closes_at"]
    assert parse(extend["sale_closes_at"]) == later


def test_extending_the_close_of_a_closed_sale_puts_it_back_on_sale(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    closes = now() + timedelta(seconds=1)
    launch = create_launch(admin, batch={"A": 5}, sale_closes_at=iso(closes))
    lid, fan = launch["id"], register(anyone)
    eventually(lambda: launch_of(anyone, lid)["status"], "closed".__eq__, 10)
    assert error(claim(anyone, lid, fan["token"]))[:2] == (409, "closed")

    later = now() + timedelta(hours=1)
    extended = admin.patch(f"/api/v1/launches/{lid}", json={"sale_closes_at": iso(later)})
    assert extended.status_code == 200, extended.text
    assert (extended.json()["status"], parse(extended.json()["sale_closes_at"])) == (
        "on_sale",
        later,
    )
    held(anyone, lid, fan)


# -- priority codes --------------------------------------------------------------------


def test_codes_set_units_aside_honestly_until_they_expire(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 3})
    lid = launch["id"]
    (expiring,) = issue_codes(
        admin, lid, sku="A", count=1, expires_at=iso(now() + timedelta(seconds=2.5))
    )
    spent, live = issue_codes(admin, lid, sku="A", count=2)

    # Every unit is set aside: nothing is open to a fan without a code.
    seen = launch_of(anyone, lid)
    assert seen["status"] == "sold_out"
    assert {k: sku_of(seen)[k] for k in ("available", "set_aside", "sold_out")} == {
        "available": 0,
        "set_aside": 3,
        "sold_out": True,
    }
    assert error(claim(anyone, lid, register(anyone)["token"]))[:2] == (409, "sold_out")
    redeemed = held(anyone, lid, register(anyone), priority_code=spent["code"])
    assert redeemed["priority_code"] == spent["code"]
    assert sku_of(launch_of(anyone, lid))["set_aside"] == 2

    # The expiring code's unit is back on sale as soon as it expires.
    seen = eventually(lambda: launch_of(anyone, lid), lambda v: sku_of(v)["set_aside"] == 1, 10)
    assert seen["status"] == "on_sale"
    assert {k: sku_of(seen)[k] for k in ("available", "set_aside", "sold_out")} == {
        "available": 1,
        "set_aside": 1,
        "sold_out": False,
    }
    too_late = claim(anyone, lid, register(anyone)["token"], priority_code=expiring["code"])
    assert error(too_late) == (409, "code_expired", "priority_code")
    elsewhere = claim(anyone, lid, register(anyone)["token"], sku="B", priority_code=live["code"])
    assert error(elsewhere) == (422, "code_for_other_sku", "sku")
    assert "'A'" in elsewhere.json()["error"]["message"]  # (the page names it from this)

    exported = admin.get(f"/api/v1/launches/{lid}/priority-codes.csv")
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    header, *rows = list(csv.reader(io.StringIO(exported.text)))
    assert header == CODES_HEADER
    by_code = {r[0]: dict(zip(CODES_HEADER, r, strict=True)) for r in rows}
    assert len(rows) == len(by_code) == 3
    assert {c: r["state"] for c, r in by_code.items()} == {
        expiring["code"]: "expired",
        spent["code"]: "redeemed",
        live["code"]: "live",
    }
    assert by_code[expiring["code"]]["expires_at"] == expiring["expires_at"]
    assert by_code[live["code"]]["expires_at"] == ""
    assert {(r["sku"], r["any_sku"], r["granted_to"]) for r in by_code.values()} == {("A", "0", "")}


def test_an_any_sku_code_buys_either_sku_and_moves_its_set_aside_unit(
    admin: httpx.Client, anyone: httpx.Client
) -> None:
    launch = create_launch(admin, batch={"A": 3, "B": 2})
    lid = launch["id"]

    def counts() -> dict[str, tuple[int, int]]:
        seen = launch_of(anyone, lid)
        return {s["code"]: (s["available"], s["set_aside"]) for s in seen["skus"]}

    (first,) = issue_codes(admin, lid, count=1)
    assert (first["any_sku"], first["sku"]) == (True, None)  # the fan chooses
    assert first["unit_sku"] == "A"  # set aside from the SKU with most units open
    assert counts() == {"A": (2, 1), "B": (2, 0)}
    on_b = held(anyone, lid, register(anyone), sku="B", priority_code=first["code"])
    assert (on_b["sku"], on_b["priority_code"]) == ("B", first["code"])
    assert counts() == {"A": (3, 0), "B": (1, 0)}  # A's unit went back, B's was taken

    (second,) = issue_codes(admin, lid, count=1)
    assert (second["sku"], second["unit_sku"]) == (None, "A")
    assert counts() == {"A": (2, 1), "B": (1, 0)}
    on_a = held(anyone, lid, register(anyone), sku="A", priority_code=second["code"])
    assert on_a["sku"] == "A"
    assert counts() == {"A": (2, 0), "B": (1, 0)}
    assert {c: s["held"] for c, s in stats(admin, lid)["skus"].items()} == {"A": 1, "B": 1}

    exported = admin.get(f"/api/v1/launches/{lid}/priority-codes.csv").text
    header, *rows = list(csv.reader(io.StringIO(exported)))
    assert header == CODES_HEADER
    assert sorted((r[0], r[1], r[2], r[4], r[6]) for r in rows) == sorted(
        [
            (first["code"], "any SKU", "1", "redeemed", "B"),
            (second["code"], "any SKU", "1", "redeemed", "A"),
        ]
    )


def test_an_any_sku_code_redeemed_for_another_sku_is_exported_the_same_after_a_restart(
    server: ServerProcess,
) -> None:
    with server.admin() as admin, server.client() as anyone:
        lid = create_launch(admin, batch={"A": 3, "B": 2})["id"]
        (code,) = issue_codes(admin, lid, count=1)
        held(anyone, lid, register(anyone), sku="B", priority_code=code["code"])
        before = admin.get(f"/api/v1/launches/{lid}/priority-codes.csv").text
        assert f"{code['code']},any SKU,1,,redeemed,,B" in before.splitlines()

    server.stop()
    server.start()
    with server.admin() as admin:
        assert admin.get(f"/api/v1/launches/{lid}/priority-codes.csv").text == before
