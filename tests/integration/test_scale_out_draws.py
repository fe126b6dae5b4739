"""A launch sold by draw with several workers: the owner draws, each winner's unit is taken
in Redis under the claim's id (so the workers' counts know it), paid, refunded, and the
unit passed to the next backup, with Redis and the record agreeing at every step. The
processes are set up as in test_scale_out.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.scaleout import ScaleOut, fans, held_rows
from tests.support import claim, create_launch, error, eventually, iso, now

pytest_plugins = ["tests.postgres", "tests.scaleout"]  # (its `cluster` fixture)

pytestmark = pytest.mark.timeout(240)


def auth(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


def won(client: httpx.Client, fan: dict[str, Any]) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/me/notifications", headers=auth(fan))
    assert answer.status_code == 200, answer.text
    return [n for n in answer.json() if n["kind"] == "draw_won"]


def test_a_draw_on_workers_holds_in_redis_and_passes_a_refunded_unit_to_a_backup(
    cluster: ScaleOut,
) -> None:
    with cluster.admin() as admin:
        launch_id = create_launch(
            admin,
            batch={"A": 2},
            opens_in=3.0,
            mode="draw",
            reservations_open_at=iso(now()),
            payment_window_seconds=60,
        )["id"]
    entrants: dict[str, dict[str, Any]] = {}
    with cluster.workers[0].client() as client:
        for fan in fans(cluster, 4):
            entered = client.post(
                f"/api/v1/launches/{launch_id}/reservations", json={"sku": "A"}, headers=auth(fan)
            )
            assert entered.status_code == 201, entered.text
            entrants[entered.json()["id"]] = fan
        drawn = eventually(
            lambda: client.get(f"/api/v1/launches/{launch_id}/draw").json(),
            lambda d: d.get("result") is not None,
            20,
        )
    winners = [entrants[r] for r in drawn["result"]["A"]["winners"]]
    first_backup = entrants[drawn["result"]["A"]["backups"][0]]
    assert len(winners) == 2
    # Redis holds the winners' units under their claims' ids, as the record does.
    rows = held_rows(cluster, launch_id)
    assert sorted(fan for fan, _, state in rows.values() if state == "held") == sorted(
        w["id"] for w in winners
    )
    assert (cluster.stock(launch_id)["h:A"], cluster.stock(launch_id).get("p:A", 0)) == (2, 0)
    with cluster.workers[1].client() as client:
        # nobody buys a drawn launch outside the draw, on any worker
        assert error(claim(client, launch_id, first_backup["token"]))[:2] == (409, "draw_only")
        notes = {w["id"]: won(client, w) for w in winners}
        paid = client.post(
            f"/api/v1/claims/{notes[winners[0]['id']][0]['data']['claim_id']}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={**auth(winners[0]), "idempotency-key": uuid.uuid4().hex},
        )
        assert paid.status_code == 200, paid.text
    assert (cluster.stock(launch_id)["h:A"], cluster.stock(launch_id)["p:A"]) == (1, 1)

    with cluster.admin(1) as admin:
        refunded = admin.post(
            f"/api/v1/orders/{paid.json()['id']}/refund", json={"reason": "asked to cancel"}
        )
        assert refunded.status_code == 200, refunded.text
    with cluster.workers[0].client() as client:
        backup_note = eventually(lambda: won(client, first_backup), bool, 15)[0]
    assert backup_note["data"]["backup"] is True
    backup_claim = backup_note["data"]["claim_id"]
    assert held_rows(cluster, launch_id)[backup_claim][2] == "held"
    # The refund gave the unit back and the backup holds it: in Redis as in the record.
    assert (cluster.stock(launch_id)["h:A"], cluster.stock(launch_id)["p:A"]) == (2, 0)
    with cluster.redis_client() as redis:
        assert redis.hexists(f"soldout:{{{launch_id}}}:claims", backup_claim)


def test_a_drawn_unit_nobody_waits_for_is_shown_on_no_worker_as_left(cluster: ScaleOut) -> None:
    """One entrant for two units: the unit the draw gave nobody, and the winner's once let
    go, stay unsold in Redis and on record, and no worker shows them as left (each refuses
    them `draw_only`, as one process does)."""
    with cluster.admin() as admin:
        launch_id = create_launch(
            admin, batch={"A": 2}, opens_in=3.0, mode="draw", reservations_open_at=iso(now())
        )["id"]
    (fan,) = fans(cluster, 1)
    with cluster.workers[0].client() as client:
        entered = client.post(
            f"/api/v1/launches/{launch_id}/reservations", json={"sku": "A"}, headers=auth(fan)
        )
        assert entered.status_code == 201, entered.text
        note = eventually(lambda: won(client, fan), bool, 20)[0]

    def shown(worker: int) -> tuple[str, int, bool]:
        with cluster.workers[worker].client() as client:
            view = client.get(f"/api/v1/launches/{launch_id}").json()
        (sku,) = view["skus"]
        return view["status"], sku["available"], sku["sold_out"]

    assert shown(0) == shown(1) == ("sold_out", 0, True)
    assert (cluster.stock(launch_id)["b:A"], cluster.stock(launch_id)["h:A"]) == (2, 1)
    with cluster.workers[1].client() as client:
        released = client.delete(f"/api/v1/claims/{note['data']['claim_id']}", headers=auth(fan))
        assert released.status_code == 200, released.text
        assert error(claim(client, launch_id, fan["token"]))[:2] == (409, "draw_only")
    assert shown(0) == shown(1) == ("sold_out", 0, True)
    assert cluster.stock(launch_id).get("h:A", 0) == 0
    with cluster.admin(1) as admin:
        stock = admin.get(f"/api/v1/launches/{launch_id}/stats").json()["skus"]["A"]
    assert (stock["available"], stock["held"], stock["paid"]) == (2, 0, 0)
