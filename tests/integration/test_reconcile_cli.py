"""`soldout reconcile` as a maker runs it: clean after a real sale (also while the server
runs), and exit 1 naming each mismatch when the record has been damaged or a payment has
been pending for too long. The admin's reconciliation page shows the same."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import ADMIN_TOKEN, ServerProcess, claim, create_launch, register


def reconcile(data: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "soldout", "reconcile", "--data", str(data), *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sell_two(server: ServerProcess) -> list[str]:
    """Two fans claim and pay one unit each of a batch of 2; returns the order ids."""
    with server.admin() as admin:
        launch = create_launch(admin, batch={"A": 2})
    orders = []
    with server.client() as anyone:
        for n in range(2):
            fan = register(anyone)
            held = claim(anyone, launch["id"], fan["token"])
            assert held.status_code == 201, held.text
            paid = anyone.post(
                f"/api/v1/claims/{held.json()['id']}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": f"p{n}"},
            )
            assert paid.status_code == 200, paid.text
            orders.append(paid.json()["id"])
    return orders


def test_a_clean_sale_reconciles_while_serving_and_after(server: ServerProcess) -> None:
    sell_two(server)
    live = reconcile(server.data)
    assert live.returncode == 0, live.stdout + live.stderr
    assert "checked 2 orders, 2 payments, 2 claims, 2 provider transactions" in live.stdout
    assert "ok: no mismatch" in live.stdout
    server.stop()
    after = reconcile(server.data)
    assert after.returncode == 0, after.stdout + after.stderr


def _claim_of(db: sqlite3.Connection, order_id: str) -> str:
    row = db.execute("SELECT claim_id FROM orders WHERE id = ?", (order_id,)).fetchone()
    return str(row[0])


DAMAGE: dict[str, Callable[[Path, list[str]], None]] = {}


def damage(kind: str) -> Callable[[Callable[[Path, list[str]], None]], None]:
    def register_damage(f: Callable[[Path, list[str]], None]) -> None:
        DAMAGE[kind] = f

    return register_damage


def _sql(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    with sqlite3.connect(path) as db:
        for sql, args in statements:
            assert db.execute(sql, args).rowcount >= 1, sql


@damage("oversold")
def _shrink_the_batch(data: Path, orders: list[str]) -> None:
    _sql(data / "soldout.db", ("UPDATE launch_batches SET quantity = 1", ()))


@damage("order_without_unit")
def _expire_a_paid_claim(data: Path, orders: list[str]) -> None:
    with sqlite3.connect(data / "soldout.db") as db:
        claim_id = _claim_of(db, orders[0])
    _sql(data / "soldout.db", ("UPDATE claims SET state = 'expired' WHERE id = ?", (claim_id,)))


@damage("order_without_payment")
def _forget_a_capture(data: Path, orders: list[str]) -> None:
    with sqlite3.connect(data / "soldout.db") as db:
        claim_id = _claim_of(db, orders[0])
    _sql(
        data / "soldout.db",
        ("UPDATE payments SET state = 'pending' WHERE claim_id = ?", (claim_id,)),
    )


@damage("payment_mismatch")
def _provider_refunded_behind_our_back(data: Path, orders: list[str]) -> None:
    _sql(
        data / "soldout-test-payments.db",
        ("UPDATE lines SET refunded = captured, status = 'refunded' WHERE seq = 1", ()),
    )


@damage("payment_stuck")
def _leave_a_payment_pending_for_an_hour(data: Path, orders: list[str]) -> None:
    with sqlite3.connect(data / "soldout.db") as db:
        claim_id = _claim_of(db, orders[0])
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    _sql(
        data / "soldout.db",
        (
            "UPDATE payments SET state = 'pending', updated_at = ? WHERE claim_id = ?",
            (an_hour_ago, claim_id),
        ),
    )


@damage("duplicate_claim_key")
def _write_a_claim_twice(data: Path, orders: list[str]) -> None:
    with sqlite3.connect(data / "soldout.db") as db:
        claim_id = _claim_of(db, orders[0])
        columns = [row[1] for row in db.execute("PRAGMA table_info(claims)")]
        copied = ", ".join("id || '-copy'" if c == "id" else c for c in columns)
        db.execute(
            f"INSERT INTO claims ({', '.join(columns)}) SELECT {copied} FROM claims WHERE id = ?",
            (claim_id,),
        )


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damage_is_reported_and_fails(server: ServerProcess, kind: str) -> None:
    orders = sell_two(server)
    server.stop()
    DAMAGE[kind](server.data, orders)
    result = reconcile(server.data)
    assert result.returncode == 1, result.stdout + result.stderr
    reported = [line.split(":")[0] for line in result.stdout.splitlines()[1:-1]]
    assert kind in reported, result.stdout


def test_a_payment_pending_for_longer_than_the_threshold_fails(tmp_path: Path) -> None:
    """A payment the provider has not decided (its delay is an hour) is no mismatch at
    first; past `--pending-minutes` it is one, with what the provider says."""
    server = ServerProcess(tmp_path / "data", env={"SOLDOUT_TEST_PAYMENTS_DELAY": "3600"})
    server.start()
    try:
        with server.admin() as admin:
            launch = create_launch(admin, batch={"A": 1})
        with server.client() as anyone:
            fan = register(anyone)
            held = claim(anyone, launch["id"], fan["token"])
            pending = anyone.post(
                f"/api/v1/claims/{held.json()['id']}/payment",
                json={"method": "test", "token": "tok_delayed"},
                headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": "p"},
            )
        assert pending.status_code == 202, pending.text
        payment_id = pending.json()["payment"]["id"]

        recent = reconcile(server.data)
        stuck = reconcile(server.data, "--pending-minutes", "0")
    finally:
        server.stop()

    assert recent.returncode == 0, recent.stdout + recent.stderr
    assert stuck.returncode == 1, stuck.stdout + stuck.stderr
    [line] = [line for line in stuck.stdout.splitlines() if line.startswith("payment_stuck")]
    assert line.startswith(f"payment_stuck: {payment_id}: pending for 0 minutes")
    assert line.endswith("the provider says pending")


def reconciliation_page(server: ServerProcess) -> str:
    with httpx.Client(base_url=server.base_url, headers={"origin": server.base_url}) as web:
        assert web.post("/admin/signin", data={"token": ADMIN_TOKEN}).status_code == 303
        asked = web.get("/admin/reconciliation")
        assert "Check now" in asked.text  # opening the page does not read the whole record
        assert "Everything matches" not in asked.text
        page = web.get("/admin/reconciliation", params={"run": "1"})
    assert page.status_code == 200, page.text
    return page.text


def test_the_admin_page_shows_what_reconcile_finds(server: ServerProcess) -> None:
    orders = sell_two(server)
    clean = reconciliation_page(server)
    assert "Everything matches" in clean
    checked = clean[clean.index("reconcile</code>):") : clean.index("checked.</p>")]
    assert " ".join(checked.split()) == (
        "reconcile</code>): 1 launch, 2 claims, 2 orders, 2 payments and 2 provider transactions"
    )
    server.stop()
    DAMAGE["payment_mismatch"](server.data, orders)
    server.start()
    damaged = reconciliation_page(server)
    assert "1 mismatch to look into." in damaged
    assert '<th scope="row">payment_mismatch</th>' in damaged


def test_no_database_is_a_clear_error(tmp_path: Path) -> None:
    result = reconcile(tmp_path / "nothing-here")
    assert result.returncode == 1
    assert "no soldout database" in result.stderr
