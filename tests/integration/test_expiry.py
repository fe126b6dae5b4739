"""The payment window in a real server process: the sweeper releases an unpaid claim once,
and the unit is on sale again."""

from __future__ import annotations

import pytest

from tests.support import ServerProcess, claim, create_launch, error, eventually, register

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

WINDOW = 10  # the shortest payment window a launch may have


def test_an_unpaid_claim_expires_and_its_unit_goes_back_on_sale(
    shared_server: ServerProcess,
) -> None:
    with shared_server.admin() as admin, shared_server.client() as anyone:
        launch = create_launch(admin, batch={"A": 1}, payment_window_seconds=WINDOW)
        first, second = register(anyone), register(anyone)
        taken = claim(anyone, launch["id"], first["token"])
        assert taken.status_code == 201, taken.text
        assert error(claim(anyone, launch["id"], second["token"]))[1] == "sold_out"
        claim_url = f"/api/v1/claims/{taken.json()['id']}"
        mine = {"authorization": f"Bearer {first['token']}"}

        eventually(
            lambda: anyone.get(claim_url, headers=mine).json()["state"],
            "expired".__eq__,
            timeout=WINDOW + 5,
        )

        stats = admin.get(f"/api/v1/launches/{launch['id']}/stats").json()
        assert stats["skus"]["A"] == {
            "batch": 1,
            "available": 1,
            "open": 1,
            "unoffered": 0,
            "set_aside": 0,
            "held": 0,
            "paid": 0,
        }
        assert stats["claims"] == {"held": 0, "paid": 0, "expired": 1, "cancelled": 0}
        assert anyone.get(f"/api/v1/launches/{launch['id']}").json()["status"] == "on_sale"
        paying = anyone.post(
            f"{claim_url}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={**mine, "idempotency-key": "late"},
        )
        assert error(paying)[:2] == (409, "claim_expired")
        assert claim(anyone, launch["id"], second["token"]).status_code == 201
