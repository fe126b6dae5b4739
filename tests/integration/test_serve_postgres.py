"""`soldout serve --store postgresql://...` as an operator runs it: the sale, a second
server refused, a SIGKILL survived, `soldout reconcile` on the database, and `backup`
pointing to pg_dump. PostgreSQL comes from tests/postgres.py (a fresh database)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import (
    ADMIN_TOKEN,
    ServerProcess,
    claim,
    create_launch,
    register,
)

pytest_plugins = ["tests.postgres"]


def soldout(*args: str, data: Path, store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "soldout", *args, "--data", str(data), "--store", store],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SOLDOUT_ADMIN_TOKEN": ADMIN_TOKEN},
        check=False,
    )


def test_a_sale_on_postgresql_from_the_command_line(postgres_url: str, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"SOLDOUT_STORE": postgres_url})
    server.start()
    try:
        with server.admin() as admin, server.client() as anyone:
            launch_id = create_launch(admin, batch={"A": 2})["id"]
            fan = register(anyone)
            held = claim(anyone, launch_id, fan["token"])
            assert held.status_code == 201, held.text
            paid = anyone.post(
                f"/api/v1/claims/{held.json()['id']}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": "p1"},
            )
            assert paid.status_code == 200, paid.text
            assert anyone.get("/healthz").json()["status"] == "ok"
        # one process owns the database: a second server says who has it, and stops
        second = soldout("serve", "--port", "0", data=tmp_path / "other", store=postgres_url)
        assert second.returncode != 0
        assert "another soldout server owns the PostgreSQL database" in second.stderr
        server.kill()  # a crash: nothing is flushed on the way out
        server.start()
        with server.client(fan["token"]) as the_fan, server.admin() as admin:
            [order] = the_fan.get("/api/v1/me/orders").json()
            assert (order["claim_id"], order["status"]) == (held.json()["id"], "paid")
            stock = admin.get(f"/api/v1/launches/{launch_id}/stats").json()["skus"]["A"]
            assert (stock["paid"], stock["available"]) == (1, 1)
    finally:
        server.stop()
    checked = soldout("reconcile", data=tmp_path / "data", store=postgres_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checked 1 order, 1 payment, 1 claim, " in checked.stdout
    assert "ok: no mismatch" in checked.stdout
    refused = soldout("backup", str(tmp_path / "copy"), data=tmp_path / "data", store=postgres_url)
    assert refused.returncode != 0
    assert "pg_dump" in refused.stderr
    assert not (tmp_path / "copy").exists()
