"""SIGKILL the server while delayed payments are in flight at the `test` provider, restart
it on the same data, and check that every one of them settles: no payment stays pending,
no fan is refused for ever, and `soldout reconcile` agrees.

The provider's delayed outcomes are owed from its ledger, not from the killed process: the
restarted provider decides each line still pending at its time and sends its webhook. The
first process's provider waits an hour (so nothing is decided before the kill, however slow
the machine); the restarted one waits a second, so the outcomes it inherits are overdue and
come at once. The test waits on the state itself (polled, with a deadline), never on a
guessed time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support import ServerProcess, claim, create_launch, error, eventually, register

PAYERS = 12  # even: tok_delayed, odd: tok_delayed_decline
CHECKS = {"SOLDOUT_PAYMENT_CHECK_EVERY": "0.2", "SOLDOUT_PAYMENT_CHECK_AFTER": "0.5"}


def pay(anyone: httpx.Client, fan: dict[str, Any], claim_id: str, token: str) -> httpx.Response:
    return anyone.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"method": "test", "token": token},
        headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": uuid.uuid4().hex},
    )


def claim_now(anyone: httpx.Client, fan: dict[str, Any], claim_id: str) -> dict[str, Any]:
    response = anyone.get(
        f"/api/v1/claims/{claim_id}", headers={"authorization": f"Bearer {fan['token']}"}
    )
    assert response.status_code == 200, response.text
    seen: dict[str, Any] = response.json()
    return seen


def on_disk(path: Path, sql: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return [row[0] for row in db.execute(sql)]


def test_delayed_payments_in_flight_at_a_sigkill_all_settle_after_the_restart(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data", env={**CHECKS, "SOLDOUT_TEST_PAYMENTS_DELAY": "3600"})
    server.start()
    try:
        with server.admin() as admin:
            launch = create_launch(admin, batch={"A": PAYERS}, payment_window_seconds=600)
        buyers: list[tuple[dict[str, Any], str]] = []
        with server.client() as anyone:
            for n in range(PAYERS):
                fan = register(anyone)
                held = claim(anyone, launch["id"], fan["token"])
                assert held.status_code == 201, held.text
                token = "tok_delayed" if n % 2 == 0 else "tok_delayed_decline"
                pending = pay(anyone, fan, held.json()["id"], token)
                assert pending.status_code == 202, pending.text
                buyers.append((fan, held.json()["id"]))
            # Paying again meanwhile: the provider is still deciding, and the fan is told
            # when soldout asks it again.
            fan, claim_id = buyers[1]
            again = pay(anyone, fan, claim_id, "tok_ok")
            assert error(again)[:2] == (409, "payment_pending")
            assert "soldout asks it again by" in again.json()["error"]["message"]

        server.kill()

        database, ledger = server.data / "soldout.db", server.data / "soldout-test-payments.db"
        assert set(on_disk(database, "SELECT state FROM payments")) == {"pending"}
        assert set(on_disk(ledger, "SELECT status FROM lines")) == {"pending"}
        assert len(on_disk(ledger, "SELECT status FROM lines")) == PAYERS

        server.env["SOLDOUT_TEST_PAYMENTS_DELAY"] = "1"
        server.start()
        with server.client() as anyone:

            def stuck() -> list[str]:
                return [
                    claim_id
                    for fan, claim_id in buyers
                    if claim_now(anyone, fan, claim_id)["payment"]["state"] == "pending"
                ]

            eventually(stuck, lambda left: not left, timeout=30)

            for n, (fan, claim_id) in enumerate(buyers):
                seen = claim_now(anyone, fan, claim_id)
                if n % 2 == 0:
                    assert (seen["state"], seen["payment"]["state"]) == ("paid", "captured")
                    assert seen["order_id"] is not None
                else:
                    assert (seen["state"], seen["payment"]["state"]) == ("held", "declined")
            fan, claim_id = buyers[1]  # declined: this fan pays again, and it works
            assert pay(anyone, fan, claim_id, "tok_ok").status_code == 200

        checked = subprocess.run(
            [sys.executable, "-m", "soldout", "reconcile", "--data", str(server.data)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "ok: no mismatch" in checked.stdout
    finally:
        server.stop()
