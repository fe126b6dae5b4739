"""Several workers when a part fails: Redis lost or restored from an old snapshot,
PostgreSQL out of reach, the owner killed mid-sale; every 201 stands, nothing oversold.

The failures are real: a Redis server SIGKILLed and started again (empty, or from a
snapshot it saved), a private PostgreSQL stopped and started, the owner SIGKILLed; the
processes are set up as in test_scale_out.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.postgres import PostgresServer
from tests.scaleout import ScaleOut, fans, held_rows, scale_out
from tests.support import ServerProcess, claim, create_launch, error, eventually

pytest_plugins = ["tests.postgres", "tests.scaleout"]  # (its `cluster` fixture)

pytestmark = pytest.mark.timeout(240)


def test_redis_restarted_empty_is_rebuilt_from_postgresql_before_anyone_sells_again(
    cluster: ScaleOut,
) -> None:
    """Ten units claimed, Redis SIGKILLed (it keeps nothing) and started again empty: no
    worker says yes until the owner has rebuilt the counts from PostgreSQL; then the
    sale goes on to exactly the batch, and the first ten replay as before."""
    with cluster.admin() as admin:
        launch = create_launch(admin, batch={"A": 30})
    launch_id = launch["id"]
    crowd = fans(cluster, 45)
    first = {}
    with cluster.workers[0].client() as client:
        for fan in crowd[:10]:
            answer = claim(client, launch_id, fan["token"], key=f"{fan['id']}-1")
            assert answer.status_code == 201
            first[fan["id"]] = answer.json()
    cluster.redis.kill()
    with cluster.workers[1].client() as client:
        down = claim(client, launch_id, crowd[10]["token"], key="while-down")
    assert error(down)[:2] == (503, "storage_unavailable")
    cluster.redis.start()
    answers = []
    with ThreadPoolExecutor(16) as pool:

        def buy(fan: dict[str, Any]) -> httpx.Response:
            with cluster.any_worker().client() as client:
                return eventually(
                    lambda: claim(client, launch_id, fan["token"], key=f"{fan['id']}-1"),
                    lambda r: r.status_code != 503,
                    20,
                )

        answers = list(pool.map(buy, crowd))
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    replayed = {
        fan["id"]: r.json() for fan, r in zip(crowd, answers, strict=True) if r.status_code == 200
    }
    assert replayed == first  # the ten claimed before the loss replay, unchanged
    assert len(created) == 20  # the 20 units left, and not one more
    assert Counter(error(r)[1] for r in answers if r.status_code == 409) == {"sold_out": 15}
    rows = held_rows(cluster, launch_id)
    assert set(rows) == created | {c["id"] for c in first.values()}
    assert cluster.stock(launch_id)["h:A"] == 30


def test_redis_restored_from_an_old_snapshot_is_fenced_and_rebuilt(cluster: ScaleOut) -> None:
    """A failover to a replica that missed the last writes, played by a snapshot: Redis
    saved after 5 claims, 5 more made, then Redis killed and started from that snapshot
    (it believes only 5 units are held). Workers refuse it until the owner rebuilt it
    from PostgreSQL: the batch of 12 is never exceeded."""
    with cluster.admin() as admin:
        launch = create_launch(admin, batch={"A": 12})
    launch_id = launch["id"]
    crowd = fans(cluster, 30)
    made = set()
    with cluster.workers[0].client() as client:
        for fan in crowd[:5]:
            made.add(claim(client, launch_id, fan["token"]).json()["id"])
        with cluster.redis_client() as r:
            r.save()  # the replica's view
        for fan in crowd[5:10]:
            made.add(claim(client, launch_id, fan["token"]).json()["id"])
    cluster.redis.kill()
    cluster.redis.start()  # from the snapshot: 5 held
    with cluster.redis_client() as r:
        assert int(r.hget(f"soldout:{{{launch_id}}}:stock", "h:A") or 0) in (5, 10)
    with ThreadPoolExecutor(8) as pool:

        def buy(fan: dict[str, Any]) -> httpx.Response:
            with cluster.any_worker().client() as client:
                key = uuid.uuid4().hex
                return eventually(
                    lambda: claim(client, launch_id, fan["token"], key=key),
                    lambda r: r.status_code != 503,
                    20,
                )

        answers = list(pool.map(buy, crowd[10:]))
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    assert len(created) == 2  # 12 - 10, whatever the snapshot said
    rows = held_rows(cluster, launch_id)
    assert set(rows) == made | created
    assert cluster.stock(launch_id)["h:A"] == 12


def test_postgresql_unreachable_gives_no_yes_and_workers_recover(tmp_path: Path) -> None:
    """A private PostgreSQL stopped mid-sale: every claim is answered 503
    `storage_unavailable` (its units back in Redis), none 201; started again, the same
    workers sell again without a restart."""
    with PostgresServer() as server, scale_out(tmp_path, server, workers=1) as cluster:
        with cluster.admin() as admin:
            launch_id = create_launch(admin, batch={"A": 10})["id"]
        crowd = fans(cluster, 8)
        worker = cluster.workers[0]
        with worker.client() as client:
            assert claim(client, launch_id, crowd[0]["token"]).status_code == 201
            server.stop()
            down = [claim(client, launch_id, fan["token"], key="k") for fan in crowd[1:5]]
            assert {error(r)[:2] for r in down} == {(503, "storage_unavailable")}
            assert cluster.stock(launch_id)["h:A"] == 1  # their units went back
            server.start()
            back = eventually(
                lambda: claim(client, launch_id, crowd[1]["token"], key="k"),
                lambda r: r.status_code != 503,
                30,
            )
            assert back.status_code == 201, back.text
            for fan in crowd[2:5]:
                assert claim(client, launch_id, fan["token"], key="k").status_code == 201
        assert len(held_rows(cluster, launch_id)) == 5
        assert cluster.stock(launch_id)["h:A"] == 5


def test_the_owner_killed_mid_sale_workers_sell_on_and_its_restart_adopts_every_claim(
    cluster: ScaleOut,
) -> None:
    """The owner is SIGKILLed: workers go on selling (forwarded requests get 503
    `owner_unavailable`); restarted, the owner reads every claim back and adopts those
    made while it was down, and its stats agree with Redis and the record."""
    with cluster.admin() as admin:
        launch_id = create_launch(admin, batch={"A": 20})["id"]
    crowd = fans(cluster, 25)
    with cluster.workers[0].client() as client:
        for fan in crowd[:5]:
            assert claim(client, launch_id, fan["token"]).status_code == 201
        cluster.owner.kill()
        for fan in crowd[5:15]:
            assert claim(client, launch_id, fan["token"]).status_code == 201
        forwarded = client.get(f"/api/v1/launches/{launch_id}")
        assert error(forwarded)[:2] == (503, "owner_unavailable")
    cluster.owner.start(timeout=60)
    with cluster.admin(1) as admin:
        stats = eventually(
            lambda: admin.get(f"/api/v1/launches/{launch_id}/stats"),
            lambda r: r.status_code == 200 and r.json()["claims"]["held"] == 15,
            30,
        ).json()
    assert stats["skus"]["A"]["held"] == 15
    assert cluster.stock(launch_id)["h:A"] == 15
    assert len(held_rows(cluster, launch_id)) == 15


def test_a_standby_owner_takes_over_when_the_owner_is_killed(
    cluster: ScaleOut, tmp_path: Path
) -> None:
    """A second owner on the same store waits as a standby (refused by the lock, it
    neither serves nor exits); the owner SIGKILLed, the standby takes the lock, loads
    the record, adopts the claims workers made meanwhile and publishes its address, so
    the workers forward to it: the sale goes on without anyone restarting anything."""
    standby = ServerProcess(tmp_path / "standby", env=cluster.env, args=["--role", "owner"])
    serving = threading.Thread(target=standby.start, kwargs={"timeout": 120}, daemon=True)
    serving.start()
    try:
        eventually(
            lambda: standby.log.read_text() if standby.log.exists() else "",
            lambda text: "standby: another soldout server owns" in text,
            60,
        )
        with cluster.admin() as admin:
            launch_id = create_launch(admin, batch={"A": 20})["id"]
        crowd = fans(cluster, 12)
        with cluster.workers[0].client() as client:
            for fan in crowd[:4]:
                assert claim(client, launch_id, fan["token"]).status_code == 201
            assert standby.process is not None
            assert standby.process.poll() is None  # waiting, not refused
            with pytest.raises(httpx.ConnectError):  # and not serving
                httpx.get(f"{standby.base_url}/healthz", timeout=5)
            cluster.owner.kill()
            killed = time.monotonic()
            for fan in crowd[4:8]:  # the workers sell on meanwhile
                assert claim(client, launch_id, fan["token"]).status_code == 201
            serving.join(120)
            eventually(
                lambda: client.get(f"/api/v1/launches/{launch_id}").status_code,
                lambda status: status == 200,
                60,
            )
            took = time.monotonic() - killed
            for fan in crowd[8:]:
                assert claim(client, launch_id, fan["token"]).status_code == 201
        with cluster.admin(1) as admin:
            stats = eventually(
                lambda: admin.get(f"/api/v1/launches/{launch_id}/stats"),
                lambda r: r.status_code == 200 and r.json()["skus"]["A"]["held"] == 12,
                30,
            ).json()
        print(f"the standby served forwarded requests {took:.1f} s after the owner's kill")
        assert stats["skus"]["A"]["available"] == 8
        assert cluster.stock(launch_id)["h:A"] == 12
        assert len(held_rows(cluster, launch_id)) == 12
    finally:
        standby.stop()
