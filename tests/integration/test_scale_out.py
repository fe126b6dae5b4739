"""Several workers selling one batch: Redis decides, PostgreSQL records, every 201 stands.

Each test runs the owner and two workers as real processes (`tests/scaleout.py`), with a
private Redis server and a fresh PostgreSQL database, and drives them over HTTP as fans
and the maker would; the failures are real (SIGKILL, a Redis server killed and started
again, a table locked so a worker's write hangs).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.scaleout import BEAT, PENDING_SECONDS, ScaleOut, fans, held_rows, scale_out
from tests.support import claim, create_launch, error, eventually

pytest_plugins = ["tests.postgres", "tests.scaleout"]  # (its `cluster` fixture)

pytestmark = pytest.mark.timeout(240)


def test_a_crowd_on_two_workers_never_oversells_and_replays_are_identical(
    cluster: ScaleOut,
) -> None:
    """240 fans on two workers race for 50 units, limit 2 per fan: each sends two keys
    (one asking for 2 units), each key twice, to a worker picked at random."""
    with cluster.admin() as admin:
        launch = create_launch(admin, batch={"A": 50}, per_fan_limit=2)
    launch_id = launch["id"]
    crowd = fans(cluster, 240)
    clients = [w.client() for w in cluster.workers]

    def fan_buys(fan: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
        seen = []
        for n, quantity in enumerate((1, 2)):
            key = f"{fan['id']}-{n}"
            for _ in range(2):
                client = random.choice(clients)
                answer = claim(client, launch_id, fan["token"], key=key, quantity=quantity)
                seen.append((key, answer.status_code, answer.json()))
        return seen

    with ThreadPoolExecutor(64) as pool:
        answers = [a for seen in pool.map(fan_buys, crowd) for a in seen]
    for client in clients:
        client.close()

    statuses = Counter(status for _, status, _ in answers)
    assert set(statuses) <= {200, 201, 409}, statuses
    created = {body["id"]: body for _, status, body in answers if status == 201}
    units = sum(body["quantity"] for body in created.values())
    assert units == 50, statuses  # every unit sold, none twice
    per_fan: Counter[str] = Counter()
    for key, status, body in answers:
        if status == 201:
            per_fan[key.rsplit("-", 1)[0]] += body["quantity"]
    assert max(per_fan.values()) <= 2
    # a retry under the same key: the first claim, whole, whichever worker answered
    first_by_key = {key: body for key, status, body in answers if status == 201}
    for key, status, body in answers:
        if status == 200:
            assert body == first_by_key[key]
    # every 201 is on record, and nothing else is held
    rows = held_rows(cluster, launch_id)
    assert set(rows) == set(created)
    assert all(state == "held" for _, _, state in rows.values())
    assert cluster.stock(launch_id)["h:A"] == 50
    # the owner adopted every claim: its pages and stats count them
    with cluster.admin(1) as admin:
        stats = eventually(
            lambda: admin.get(f"/api/v1/launches/{launch_id}/stats").json(),
            lambda s: s["claims"]["held"] == len(created),
            10,
        )
    assert stats["skus"]["A"]["held"] == 50
    # paying through a worker (forwarded to the owner) sells the units in Redis too
    tokens = {fan["id"]: fan["token"] for fan in crowd}
    paid = [(key.rsplit("-", 1)[0], body) for key, body in list(first_by_key.items())[:3]]
    with cluster.workers[1].client() as client:
        for fan_id, body in paid:
            answer = client.post(
                f"/api/v1/claims/{body['id']}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={
                    "authorization": f"Bearer {tokens[fan_id]}",
                    "idempotency-key": f"pay-{body['id']}",
                },
            )
            assert answer.status_code == 200, answer.text
    stock = cluster.stock(launch_id)
    sold = sum(b["quantity"] for _, b in paid)
    assert (stock["p:A"], stock["h:A"]) == (sold, 50 - sold)


def _claim_in_background(
    worker: Any, launch_id: str, token: str, key: str
) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def send() -> None:
        try:
            with worker.client() as client:
                outcome.append(claim(client, launch_id, token, key=key).status_code)
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    sender = threading.Thread(target=send)
    sender.start()
    return sender, outcome


def _writes_waiting(cluster: ScaleOut) -> list[int]:
    """Backends of the store's database whose claim write waits on the test's table lock
    (not another process's write that happens to touch the table meanwhile: under a loaded
    machine the worker's own write may not have reached the server yet)."""
    return [
        row[0]
        for row in cluster.rows(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            " AND left(query, 18) = 'INSERT INTO claims'"
        )
    ]


def test_a_worker_killed_between_the_decision_and_the_write_gives_its_unit_back(
    cluster: ScaleOut,
) -> None:
    """Worker 0 takes the unit in Redis; its write waits on a locked table; worker 0 is
    SIGKILLed, and its write never lands (its backend is ended). Nobody was told yes;
    the owner's reaper gives the unit back within the deadline plus a round, with no row
    written, and the fan's retry is decided afresh. Then the other ending: the write of
    a killed worker does land (it was sent before the kill): the reaper confirms the
    claim from its row and the owner keeps it, counted once."""
    with cluster.admin() as admin:
        launch = create_launch(admin, batch={"A": 1})
    launch_id = launch["id"]
    fan, other_fan = fans(cluster, 2)
    lock = psycopg.connect(cluster.store_url)
    lock.execute("LOCK TABLE claims IN ACCESS EXCLUSIVE MODE")
    sender, outcome = _claim_in_background(cluster.workers[0], launch_id, fan["token"], "k1")
    eventually(lambda: cluster.stock(launch_id).get("h:A", 0), lambda held: held == 1, 10)
    [waiting] = eventually(lambda: _writes_waiting(cluster), lambda pids: len(pids) == 1, 10)
    with cluster.workers[1].client() as other:  # meanwhile the unit is taken
        assert error(claim(other, launch_id, other_fan["token"]))[1] == "sold_out"
    cluster.workers[0].kill()
    killed_at = time.monotonic()
    cluster.rows("SELECT pg_terminate_backend(%s)", waiting)  # its write never lands
    lock.rollback()
    sender.join(10)
    assert outcome
    assert outcome[0] != 201  # nobody was told yes
    eventually(lambda: cluster.stock(launch_id)["h:A"], lambda held: held == 0, 15)
    back_after = time.monotonic() - killed_at
    print(f"the killed worker's unit was back {back_after:.2f} s after the kill")
    assert back_after <= PENDING_SECONDS + 2 * BEAT + 1.0, back_after
    assert held_rows(cluster, launch_id) == {}
    with cluster.workers[1].client() as other:
        again = claim(other, launch_id, fan["token"], key="k1")
    assert again.status_code == 201, again.text
    assert set(held_rows(cluster, launch_id)) == {again.json()["id"]}

    # The other ending: the killed worker's write lands after its death.
    cluster.workers[0].start()
    cluster.wait_ready()
    with cluster.admin() as admin:
        second = create_launch(admin, batch={"A": 1})["id"]
    lock.execute("LOCK TABLE claims IN ACCESS EXCLUSIVE MODE")
    sender, outcome = _claim_in_background(cluster.workers[0], second, fan["token"], "k2")
    eventually(lambda: _writes_waiting(cluster), lambda pids: len(pids) == 1, 10)
    cluster.workers[0].kill()
    lock.rollback()  # the write it sent goes on, and commits
    lock.close()
    sender.join(10)
    assert outcome
    assert outcome[0] != 201
    eventually(lambda: held_rows(cluster, second), lambda rows: len(rows) == 1, 10)
    with cluster.admin(1) as admin:  # confirmed from its row, adopted by the owner
        eventually(
            lambda: admin.get(f"/api/v1/launches/{second}/stats").json()["claims"]["held"],
            lambda held: held == 1,
            PENDING_SECONDS + 3 * BEAT + 2,
        )
    assert cluster.stock(second)["h:A"] == 1
    with cluster.redis_client() as r:
        assert r.zcard(f"soldout:{{{second}}}:pending") == 0


def test_a_worker_killed_mid_sale_leaves_every_yes_on_record(cluster: ScaleOut) -> None:
    """Fans buy through worker 0, which is SIGKILLed mid-sale; a fan whose request died
    with it retries the same key on worker 1 (again while it answers 503: its first
    claim may still be waiting for its row, or for the reaper). Every 201 any fan saw is
    on record, and the units sold never pass the batch."""
    with cluster.admin() as admin:
        launch = create_launch(admin, batch={"A": 60})
    launch_id = launch["id"]
    crowd = fans(cluster, 120)
    seen: list[tuple[str, int, dict[str, Any]]] = []
    seen_lock = threading.Lock()
    go = threading.Barrier(9)

    def buy(fans_part: list[dict[str, Any]]) -> None:
        go.wait()
        for fan in fans_part:
            key = f"{fan['id']}-k"
            try:
                with cluster.workers[0].client() as client:
                    answer = claim(client, launch_id, fan["token"], key=key)
            except httpx.HTTPError:  # the worker died under it: the same key on the other,
                with cluster.workers[1].client() as client:  # as long as it says 503
                    answer = eventually(
                        lambda c=client, f=fan, k=key: claim(c, launch_id, f["token"], key=k),
                        lambda r: r.status_code != 503,
                        PENDING_SECONDS + 3 * BEAT + 10,
                    )
            with seen_lock:
                seen.append((fan["id"], answer.status_code, answer.json()))

    parts = [crowd[i::8] for i in range(8)]
    threads = [threading.Thread(target=buy, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    go.wait()
    eventually(lambda: len(seen), lambda n: n >= 20, 30)
    cluster.workers[0].kill()
    for thread in threads:
        thread.join(60)
    yes = {body["id"] for _, status, body in seen if status in (200, 201)}
    assert len({fan for fan, _, _ in seen}) == len(crowd)  # every fan got an answer
    # the reaper settles what the killed worker left taken but unanswered
    eventually(
        lambda: cluster.rows("SELECT count(*) FROM claims WHERE state = 'held'")[0][0],
        lambda held: held == cluster.stock(launch_id)["h:A"],
        PENDING_SECONDS + 3 * BEAT + 5,
    )
    rows = held_rows(cluster, launch_id)
    assert yes <= set(rows)  # every yes is on record
    assert len(yes) == 60  # all sold (120 fans for 60 units), and not one more
    assert sum(q for _, q, state in rows.values() if state == "held") == 60


def test_a_crowd_on_two_workers_over_a_redis_cluster(tmp_path: Path, postgres_server: Any) -> None:
    """The same sale over a private three-node Redis Cluster (`redis+cluster://`): each
    launch's keys share one slot, so its scripts run on its shard unchanged. Two
    launches (on their own slots), 80 fans each buying one unit of each, twice per key:
    30 units of each sold, replays identical, every 201 on record."""
    with scale_out(tmp_path, postgres_server, cluster=True) as cluster:
        with cluster.admin() as admin:
            launches = [create_launch(admin, batch={"A": 30})["id"] for _ in range(2)]
        crowd = fans(cluster, 80)
        clients = [w.client() for w in cluster.workers]

        def fan_buys(fan: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
            seen = []
            for launch_id in launches:
                key = f"{fan['id']}-{launch_id}"
                for _ in range(2):
                    answer = claim(random.choice(clients), launch_id, fan["token"], key=key)
                    seen.append((key, answer.status_code, answer.json()))
            return seen

        with ThreadPoolExecutor(32) as pool:
            answers = [a for seen in pool.map(fan_buys, crowd) for a in seen]
        for client in clients:
            client.close()
        assert {status for _, status, _ in answers} <= {200, 201, 409}
        first = {key: body for key, status, body in answers if status == 201}
        for key, status, body in answers:
            if status == 200:
                assert body == first[key]
        for launch_id in launches:
            made = {b["id"] for k, b in first.items() if k.endswith(launch_id)}
            assert len(made) == 30
            assert set(held_rows(cluster, launch_id)) == made
            with cluster.redis_client() as r:
                assert int(r.hget(f"soldout:{{{launch_id}}}:stock", "h:A")) == 30


def _redis_calls(cluster: ScaleOut) -> int:
    """Redis's count of the commands a claim can cost: reads of the replay index and of
    the launch (HGET, HMGET) and scripts (EVALSHA), with the commands scripts run inside."""
    with cluster.redis_client() as client:
        stats = client.info("commandstats")
    names = ("hget", "hmget", "evalsha")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in names)


def test_a_stampede_on_a_sold_out_or_unopened_launch_is_answered_from_workers_memory(
    cluster: ScaleOut,
) -> None:
    """400 presses with fresh keys on two workers, after the last unit went: Redis hears
    a few calls (each worker learns the refusal again every 0.1 s), not one a press; the
    fan whose claim took the last unit, retrying among them, gets that claim each time.
    Before the opening of a gated launch, the same."""
    with cluster.admin() as admin:
        launch_id = create_launch(admin, batch={"A": 1})["id"]
        gated_id = create_launch(admin, batch={"A": 5}, opens_in=600, pow_difficulty=8)["id"]
    crowd = fans(cluster, 100)
    winner = crowd[0]
    clients = [w.client() for w in cluster.workers]
    first = claim(clients[0], launch_id, winner["token"], key="the-last-unit")
    assert first.status_code == 201, first.text

    def press(on: str, i: int) -> tuple[int, Any]:
        client = clients[i % 2]
        if on == launch_id and i % 40 == 0:  # the winner's retry, among the crowd
            answer = claim(client, on, winner["token"], key="the-last-unit")
            return answer.status_code, answer.json()
        return error(claim(client, on, crowd[1 + i % 99]["token"]))[:2]

    for on, refusal in ((launch_id, "sold_out"), (gated_id, "not_open")):
        for i in range(2):  # each worker learns the refusal
            assert press(on, 2 * i + 1) == (409, refusal)
        before, started = _redis_calls(cluster), time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i, on=on: press(on, i), range(1, 401)))
        calls, took = _redis_calls(cluster) - before, time.monotonic() - started
        retries = 10 if on == launch_id else 0
        assert Counter(a for a in answers if a[0] == 409) == {(409, refusal): 400 - retries}
        assert [body for status, body in answers if status != 409] == [first.json()] * retries
        assert all(status in (200, 409) for status, _ in answers)
        # What a worker pays Redis to keep the refusal, every 0.1 s: the script that
        # answers it again and the key log's read, with what they run inside (at most 10
        # commands together); a retry: the replay index, then the script (at most 6); the
        # launch's terms once a second. Before the key log: at least one command a press.
        keeping = len(clients) * (10 * (took / 0.1 + 2) + took + 1)
        assert calls <= keeping + 6 * retries + 10, (refusal, calls, took)
    for client in clients:
        client.close()
