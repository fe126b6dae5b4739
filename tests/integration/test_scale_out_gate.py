"""Several workers check the gate themselves: the waiting room's admission, proof of work
spent once across every process, a storefront's session cookie, the duplicate-buyer rule
(from the owner's sets in Redis), and each fan's claim rate counted once for all
workers. All but the rate are proved with the owner SIGKILLed (everything forwarded then
fails), so each 201 and each refusal was a worker's; the processes are set up as in
test_scale_out.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from soldout.domain.pow import solve
from tests.scaleout import ScaleOut, fans, held_rows, scale_out
from tests.support import (
    create_launch,
    error,
    eventually,
    mailed_sign_in_link,
    register,
    shipping_address,
)

pytest_plugins = ["tests.postgres", "tests.scaleout"]  # (its `cluster` fixture)

pytestmark = pytest.mark.timeout(240)

POW_BITS = 10
WEB = {"x-soldout-web": "1"}


def bearer(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


def claim(
    client: httpx.Client,
    launch_id: str,
    who: dict[str, str],
    *,
    admission: str | None = None,
    proof: str | None = None,
) -> httpx.Response:
    headers = {**who, "idempotency-key": uuid.uuid4().hex}
    if admission is not None:
        headers["admission-token"] = admission
    if proof is not None:
        headers["proof-of-work"] = proof
    return client.post(f"/api/v1/launches/{launch_id}/claims", json={"sku": "A"}, headers=headers)


def admitted(client: httpx.Client, launch_id: str, who: dict[str, str]) -> str:
    """Joins the waiting room (the owner's) and waits for the admission token."""
    url = f"/api/v1/launches/{launch_id}/waiting-room"
    assert client.post(url, headers=who).status_code == 200
    view = eventually(
        lambda: client.get(url, headers=who).json(), lambda v: v["state"] == "admitted", 20
    )
    token: str = view["admission_token"]
    return token


def proof(client: httpx.Client, launch_id: str, who: dict[str, str]) -> str:
    """A challenge (the owner's), solved."""
    issued = client.post(f"/api/v1/launches/{launch_id}/challenge", headers=who)
    assert issued.status_code == 200, issued.text
    token = issued.json()["token"]
    return f"{token}:{solve(token, POW_BITS)}"


def test_workers_check_admission_proof_of_work_and_sessions_with_the_owner_down(
    cluster: ScaleOut,
) -> None:
    with cluster.admin() as admin:
        launch = create_launch(
            admin,
            batch={"A": 10},
            per_fan_limit=2,
            waiting_room_rate=1.0,
            waiting_room_burst=10,
            pow_difficulty=POW_BITS,
        )
    launch_id = launch["id"]
    ann, ben = fans(cluster, 2)
    base = cluster.workers[0].base_url
    with cluster.workers[0].client() as first, cluster.workers[1].client() as second:
        # A fan who joined through the storefront: a session cookie, no token.
        email = f"{uuid.uuid4().hex[:10]}@fans.test"
        asked = first.post("/join", data={"email": email, "name": "Cleo"}, headers={"origin": base})
        assert asked.status_code == 200, asked.text  # "check your e-mail": the owner mails
        link = mailed_sign_in_link(cluster.owner, email)
        joined = first.post("/signin/" + link.split("/signin/", 1)[1], headers={"origin": base})
        assert joined.status_code == 303, joined.text
        cleo = {**WEB, "cookie": f"soldout_fan={first.cookies['soldout_fan']}"}
        first.cookies.clear()
        passes = {
            name: (admitted(first, launch_id, who), proof(first, launch_id, who))
            for name, who in (("ann", bearer(ann)), ("ben", bearer(ben)), ("cleo", cleo))
        }
        ann_proof_2 = proof(first, launch_id, bearer(ann))
        # a launch of one unit with proof of work only: the proofs of two fans
        with cluster.admin() as admin:
            single = create_launch(admin, batch={"A": 1}, pow_difficulty=POW_BITS)["id"]
        single_proofs = [proof(first, single, bearer(fan)) for fan in (ann, ben)]

        cluster.owner.kill()
        assert error(second.get(f"/api/v1/launches/{launch_id}"))[:2] == (
            503,
            "owner_unavailable",
        )

        admission, spent = passes["ann"]
        made = claim(first, launch_id, bearer(ann), admission=admission, proof=spent)
        assert made.status_code == 201, made.text
        # the same proof again, on the other worker: spent is spent, everywhere
        again = claim(second, launch_id, bearer(ann), admission=admission, proof=spent)
        assert error(again)[:2] == (403, "pow_reused")
        # someone else's admission, none, a forged one
        ben_admission, ben_proof = passes["ben"]
        assert error(claim(second, launch_id, bearer(ben), proof=ben_proof))[:2] == (
            403,
            "admission_required",
        )
        other = claim(second, launch_id, bearer(ben), admission=admission, proof=ben_proof)
        assert error(other)[:2] == (403, "admission_invalid")
        assert error(claim(second, launch_id, bearer(ben), admission=ben_admission))[:2] == (
            403,
            "pow_required",
        )
        bought = claim(second, launch_id, bearer(ben), admission=ben_admission, proof=ben_proof)
        assert bought.status_code == 201, bought.text
        # a fresh proof buys again (the limit is 2)
        more = claim(first, launch_id, bearer(ann), admission=admission, proof=ann_proof_2)
        assert more.status_code == 201, more.text

        # the storefront: the session is read from the record by the worker itself
        cleo_admission, cleo_proof = passes["cleo"]
        by_cookie = claim(second, launch_id, cleo, admission=cleo_admission, proof=cleo_proof)
        assert by_cookie.status_code == 201, by_cookie.text
        cleo_claim = by_cookie.json()["id"]
        forged = {**WEB, "cookie": "soldout_fan=not-a-session"}
        assert error(claim(first, launch_id, forged))[:2] == (401, "unauthorized")

        # A proof used on a claim refused as sold out stays the fan's (one process checks
        # sold out before the gate): the same proof, on the other worker, is not "reused".
        assert claim(first, single, bearer(ann), proof=single_proofs[0]).status_code == 201
        for client in (first, second):
            sold_out = claim(client, single, bearer(ben), proof=single_proofs[1])
            assert error(sold_out)[:2] == (409, "sold_out")

    rows = held_rows(cluster, launch_id)
    assert sorted(fan for fan, _, _ in rows.values()).count(ann["id"]) == 2
    assert len(rows) == 4
    assert rows[cleo_claim][0] not in (ann["id"], ben["id"])  # the cookie's own fan
    cluster.owner.start(timeout=60)
    with cluster.admin(1) as admin:
        eventually(
            lambda: admin.get(f"/api/v1/launches/{launch_id}/stats"),
            lambda r: r.status_code == 200 and r.json()["skus"]["A"]["held"] == 4,
            30,
        )
    assert cluster.stock(launch_id)["h:A"] == 4

    # What the workers answered is in the owner's /metrics (pushed through Redis).
    def counted() -> dict[str, float]:
        with cluster.admin(0) as admin:
            scraped = admin.get("/metrics")
        if scraped.status_code != 200:  # (this worker may not know the new owner yet)
            return {}
        text = scraped.text
        return {
            sample.labels["code"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "soldout_worker_claims"
            for sample in family.samples
            if sample.name == "soldout_worker_claims_total"
        }

    codes = eventually(counted, lambda c: c.get("created", 0) >= 5, 10)
    assert codes["created"] == 5  # (four of the gated launch, one of the single unit)
    assert codes["sold_out"] == 2
    assert codes["pow_reused"] == 1
    assert codes["admission_invalid"] == 1
    assert codes["unauthorized"] == 1


def test_a_fans_rate_is_shared_by_every_worker(tmp_path: Path, postgres_server: Any) -> None:
    """One token a second and a burst of 3 for each fan, counted in Redis: a fan's claims
    sent alternately to two workers meet one bucket (three pass, the fourth is told when
    to retry, whichever worker it reaches), and another fan is not slowed by it."""
    env = {"SOLDOUT_RATE_LIMIT_FAN": "0.2", "SOLDOUT_RATE_LIMIT_FAN_BURST": "3"}
    with scale_out(tmp_path, postgres_server, env=env) as cluster:
        with cluster.admin() as admin:
            launch_id = create_launch(admin, batch={"A": 20}, per_fan_limit=10)["id"]
        ann, ben = fans(cluster, 2)
        with cluster.workers[0].client() as first, cluster.workers[1].client() as second:
            answers = [
                claim(client, launch_id, bearer(ann))
                for client in (first, second, first, second, first)
            ]
            assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
            assert error(answers[3])[:2] == (429, "rate_limited")
            assert 1 <= int(answers[3].headers["retry-after"]) <= 5
            assert claim(second, launch_id, bearer(ben)).status_code == 201
        assert len(held_rows(cluster, launch_id)) == 4
        assert cluster.stock(launch_id)["h:A"] == 4


def test_a_client_addresss_rate_is_shared_by_every_worker(
    tmp_path: Path, postgres_server: Any
) -> None:
    """A burst of 3 and one claim every 5 s per client address, counted in Redis: five
    fans behind one address (a proxy we trust says which), sending alternately to two
    workers, meet one bucket; a fan at another address is not slowed by it. (Each worker
    counted alone before: the five all passed, three on one worker and two on the other.)"""
    env = {"SOLDOUT_RATE_LIMIT_ADDRESS": "0.2", "SOLDOUT_RATE_LIMIT_ADDRESS_BURST": "3"}
    with scale_out(tmp_path, postgres_server, env=env) as cluster:
        with cluster.admin() as admin:
            launch_id = create_launch(admin, batch={"A": 20})["id"]
        crowd = fans(cluster, 6)
        behind = {"x-forwarded-for": "203.0.113.7"}
        with cluster.workers[0].client() as first, cluster.workers[1].client() as second:
            answers = [
                claim(client, launch_id, {**bearer(fan), **behind})
                for client, fan in zip((first, second, first, second, first), crowd, strict=False)
            ]
            assert [a.status_code for a in answers] == [201, 201, 201, 429, 429]
            assert error(answers[3])[:2] == (429, "rate_limited")
            elsewhere = {**bearer(crowd[5]), "x-forwarded-for": "198.51.100.9"}
            assert claim(second, launch_id, elsewhere).status_code == 201
        assert len(held_rows(cluster, launch_id)) == 4
        assert cluster.stock(launch_id)["h:A"] == 4


def test_workers_refuse_duplicate_buyers_from_the_owners_sets(cluster: ScaleOut) -> None:
    """The rule `cancel`, limit 2: three accounts behind one flat are refused on every
    worker, the third having joined after the launch was made, and a fourth who moves
    there later; a neighbour buys. With the owner killed: the workers decide alone."""
    number = uuid.uuid4().int % 10**9
    flat = [f"{number} Main Street, Apt 4", f"{number} main st. apt 4", f"{number} MAIN ST #4"]
    with cluster.admin() as admin:
        launch_id = create_launch(
            admin, batch={"A": 10}, duplicate_rule="cancel", duplicate_limit=2
        )["id"]
    with cluster.workers[0].client() as client:
        household = [register(client, line1=line) for line in flat]
        neighbour = register(client, line1=f"{number} Main Street, Apt 5")
        mover = register(client, line1=f"{number} Side Road 9")
        moved = client.put(
            "/api/v1/me/shipping",
            json={**shipping_address("Mover"), "line1": flat[0]},
            headers=bearer(mover),
        )
        assert moved.status_code == 200, moved.text
    cluster.owner.kill()
    with cluster.workers[1].client() as client:
        for fan in [*household, mover]:
            assert error(claim(client, launch_id, bearer(fan)))[:2] == (403, "duplicate_buyer")
        assert claim(client, launch_id, bearer(neighbour)).status_code == 201
    assert len(held_rows(cluster, launch_id)) == 1


def test_the_waiting_room_keeps_every_place_when_the_owner_is_killed(cluster: ScaleOut) -> None:
    """Fans join the room (the owner's, through a worker); the owner is SIGKILLed and
    started again: each fan still has their place, in the order they came, and the ones
    let in before are still let in, with the same token. (The room used to be in the
    owner's memory only: a new owner opened it empty, and every fan was `not_in_room`.)"""
    with cluster.admin() as admin:  # two at once, then one every 20 s
        launch_id = create_launch(
            admin, batch={"A": 10}, waiting_room_rate=0.05, waiting_room_burst=2
        )["id"]
    crowd = [bearer(f) for f in fans(cluster, 8)]
    url = f"/api/v1/launches/{launch_id}/waiting-room"

    def snapshot(client: httpx.Client) -> list[dict[str, Any]]:
        """Every fan's view, read until two readings agree (none let in between)."""

        def read() -> list[dict[str, Any]]:
            answers = [client.get(url, headers=who) for who in crowd]
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            return [a.json() for a in answers]

        def states(views: list[dict[str, Any]]) -> list[tuple[str, Any]]:
            return [(v["state"], v["position"]) for v in views]

        return eventually(lambda: (read(), read()), lambda r: states(r[0]) == states(r[1]), 30)[0]

    with cluster.workers[0].client() as client:
        for who in crowd:  # one after another: their places are in this order
            assert client.post(url, headers=who).status_code == 200
        before = snapshot(client)
        let_in = [v["state"] for v in before].count("admitted")  # the two (or a third)
        assert let_in >= 2
        assert [v["position"] for v in before[let_in:]] == list(range(1, 9 - let_in))
        cluster.owner.kill()
        assert error(client.get(url, headers=crowd[0]))[:2] == (503, "owner_unavailable")
    cluster.owner.start(timeout=60)
    with cluster.workers[1].client() as client:
        eventually(lambda: client.get(url, headers=crowd[0]).status_code, lambda s: s == 200, 30)
        views = snapshot(client)
    states = [v["state"] for v in views]
    assert "not_in_room" not in states, views
    now_in = states.count("admitted")  # as before, and any whose turn came meanwhile
    assert now_in >= let_in
    assert states == ["admitted"] * now_in + ["waiting"] * (8 - now_in)
    tokens = [v["admission_token"] for v in views[:let_in]]
    assert tokens == [v["admission_token"] for v in before[:let_in]]
    assert [v["position"] for v in views[now_in:]] == list(range(1, 9 - now_in))
