"""Schema migrations keep what a sale recorded: a database written by the newest
version, taken back a step and forward again (over the leftovers of a rebuild that was
killed half-way), still serves the same claims and orders."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
from alembic import command

from soldout.store.sqlite.migrations import alembic_config
from tests.support import ServerProcess, claim, create_launch, pay, register


@contextlib.contextmanager
def first_run(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path, httpx.Client, httpx.Client]]:
    """A server on a new data directory, stopped after the block: (it, its database, the
    maker's client, anyone's), to leave a record that a migration is then tried on."""
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        with server.admin() as admin, server.client() as anyone:
            yield server, tmp_path / "data" / "soldout.db", admin, anyone
    finally:
        server.stop()


def indexes_of_claims(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute("PRAGMA index_list(claims)").fetchall()
    return {row[1] for row in rows if row[2]}  # unique ones


def test_claims_survive_dropping_and_restoring_the_key_index(tmp_path: Path) -> None:
    with first_run(tmp_path) as (server, database, admin, anyone):
        launch = create_launch(admin, batch={"A": 5}, per_fan_limit=2)
        fan = register(anyone)
        held = claim(anyone, launch["id"], fan["token"], key="held").json()
        paid = claim(anyone, launch["id"], fan["token"], key="paid").json()
        order = pay(anyone, paid["id"], fan["token"])
        assert order.status_code == 200, order.text
    after_head = indexes_of_claims(database)

    command.downgrade(alembic_config(database), "0004")
    with_key_index = indexes_of_claims(database)
    with sqlite3.connect(database) as conn:  # what a rebuild killed half-way leaves behind
        conn.execute("CREATE TABLE _alembic_tmp_claims AS SELECT * FROM claims")
    server.start()  # upgrades to the newest schema again
    try:
        with server.client(fan["token"]) as me:
            replay = claim(me, launch["id"], fan["token"], key="held")
            orders = me.get("/api/v1/me/orders").json()
            stats = me.get(f"/api/v1/launches/{launch['id']}").json()
    finally:
        server.stop()
    with sqlite3.connect(database) as conn:
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()

    assert len(with_key_index - after_head) == 1  # the restored (fan_id, key) index
    assert indexes_of_claims(database) == after_head
    assert (replay.status_code, replay.json()) == (200, held)
    assert [o["id"] for o in orders] == [order.json()["id"]]
    assert stats["skus"][0]["held"] + stats["skus"][0]["sold"] == 2
    assert broken == []
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "_alembic_tmp_claims" not in tables


def test_an_order_refunded_unshipped_before_the_rule_loses_its_ship_date(tmp_path: Path) -> None:
    """Migration 0012: it will not ship, so it shows no date, as one refunded since."""
    with first_run(tmp_path) as (server, database, admin, anyone):
        launch = create_launch(admin, batch={"A": 5})
        product = launch["product_id"]
        plan = {"starts_on": "2031-01-05", "produced": 5}
        assert admin.put(f"/api/v1/products/{product}/skus/A/plan", json=plan).is_success
        fan = register(anyone)
        paid = claim(anyone, launch["id"], fan["token"]).json()
        order = pay(anyone, paid["id"], fan["token"]).json()
        refund = admin.post(f"/api/v1/orders/{order['id']}/refund", json={"reason": "asked"})
        assert refund.json()["ship_date"] is None
    command.downgrade(alembic_config(database), "0011")
    with sqlite3.connect(database) as conn:  # as an older version left it: dated still
        conn.execute("UPDATE orders SET ship_date = '2031-01-05' WHERE id = ?", (order["id"],))

    server.start()  # upgrades to the newest schema again
    try:
        with server.client(fan["token"]) as me:
            seen = me.get(f"/api/v1/orders/{order['id']}").json()
    finally:
        server.stop()
    assert (seen["status"], seen["ship_date"]) == ("refunded", None)


def test_an_order_paid_before_costs_were_kept_takes_its_products_cost(tmp_path: Path) -> None:
    """Migration 0013: orders keep their unit's cost; one paid before has none, and its
    margin uses the product's cost, as every margin did then (and 0013 undoes cleanly)."""
    with first_run(tmp_path) as (server, database, admin, anyone):
        launch = create_launch(admin, batch={"A": 5})  # SKU A costs 900 cents
        fan = register(anyone)
        paid = claim(anyone, launch["id"], fan["token"]).json()
        assert pay(anyone, paid["id"], fan["token"]).status_code == 200
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT unit_cost FROM orders").fetchall() == [(900,)]
    command.downgrade(alembic_config(database), "0012")  # as an older version left it
    server.start()  # upgrades to the newest schema again
    try:
        with server.admin() as admin:
            margin = admin.get(f"/api/v1/launches/{launch['id']}/margin").json()
    finally:
        server.stop()
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT unit_cost FROM orders").fetchall() == [(None,)]
    assert (margin["skus"]["A"]["cost"], margin["skus"]["A"]["cost_known"]) == (900, True)


def test_a_cost_of_0_kept_before_is_a_cost_not_given(tmp_path: Path) -> None:
    """Migration 0015: until then 0 meant "not given" (now a free unit's cost), so a 0
    kept becomes not given; taken back a step, not given is 0 again."""
    with first_run(tmp_path) as (server, database, admin, _):
        launch = create_launch(admin, batch={"A": 5})
    command.downgrade(alembic_config(database), "0014")
    with sqlite3.connect(database) as conn:  # as an older version kept a blank cost
        conn.execute("UPDATE skus SET cost = 0")
    server.start()  # upgrades to the newest schema again
    try:
        with server.admin() as admin:
            product = admin.get(f"/api/v1/products/{launch['product_id']}").json()
            margin = admin.get(f"/api/v1/launches/{launch['id']}/margin").json()
    finally:
        server.stop()
    assert product["skus"][0]["cost"] is None
    assert (margin["skus"]["A"]["unit_cost"], margin["skus"]["A"]["cost_known"]) == (None, False)
    command.downgrade(alembic_config(database), "0014")
    with sqlite3.connect(database) as conn:
        assert set(conn.execute("SELECT cost FROM skus").fetchall()) == {(0,)}
        schema = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'skus'").fetchone()
    assert "money_not_negative" in schema[0]  # (the table was rebuilt twice, its check kept)
