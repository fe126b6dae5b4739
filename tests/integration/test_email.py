"""E-mail from a real `soldout serve` process to a real SMTP server on loopback (aiosmtpd),
read as a fan's mail program would: a reservation is confirmed, a payment gets the order
with its ship date; with the relay down, mail waits and goes once it is up, each message
once."""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.dates import format_date

from tests.mailbox import Mailbox
from tests.support import (
    ServerProcess,
    claim,
    create_launch,
    eventually,
    free_port,
    shipping_address,
)

FROM = "Model Makers <shop@makers.test>"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    try:
        yield box
    finally:
        box.stop()


def serve(tmp_path: Path, smtp_port: int) -> ServerProcess:
    return ServerProcess(
        tmp_path / "data",
        env={
            "SOLDOUT_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "SOLDOUT_MAIL_FROM": FROM,
            "SOLDOUT_RATE_LIMIT_FAN": "0",
        },
    )


@pytest.fixture
def server(tmp_path: Path, mailbox: Mailbox) -> Iterator[ServerProcess]:
    process = serve(tmp_path, mailbox.port)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def join(client: httpx.Client, name: str) -> dict[str, Any]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@fans.test"
    response = client.post(
        "/api/v1/fans", json={"email": email, "name": name, "shipping": shipping_address(name)}
    )
    assert response.status_code == 201, response.text
    fan: dict[str, Any] = response.json()
    fan["email"] = email
    return fan


def bearer(fan: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {fan['token']}"}


def test_a_fan_is_mailed_the_reservation_then_the_order_with_its_ship_date(
    server: ServerProcess, mailbox: Mailbox
) -> None:
    with server.admin() as admin, server.client() as anyone:
        later = create_launch(admin, batch={"A": 5}, opens_in=3600)
        now = create_launch(admin, batch={"A": 5})
        today = date.today()
        plan = admin.put(
            f"/api/v1/products/{now['product_id']}/skus/A/plan",
            json={
                "starts_on": (today + timedelta(days=3)).isoformat(),
                "produced": 0,
                "rates": [
                    {"starts_on": (today + timedelta(days=3)).isoformat(), "units_per_day": 5}
                ],
            },
        )
        assert plan.status_code == 200, plan.text
        ann = join(anyone, "Ann")
        reserved = anyone.post(f"/api/v1/launches/{later['id']}/reservations", headers=bearer(ann))
        assert reserved.status_code == 201, reserved.text

        [confirmation] = mailbox.wait_for(ann["email"])
        message = confirmation.message
        assert message["Subject"] == "You are on the list: test launch"
        assert message["From"] == FROM
        assert message["To"] == f"Ann <{ann['email']}>"
        assert message["Message-ID"].endswith("@makers.test>")
        assert confirmation.sender == "shop@makers.test"
        assert confirmation.link("/launches/") == f"{server.base_url}/launches/{later['id']}"

        held = claim(anyone, now["id"], ann["token"])
        assert held.status_code == 201, held.text
        paid = anyone.post(
            f"/api/v1/claims/{held.json()['id']}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={**bearer(ann), "idempotency-key": "pay-1"},
        )
        assert paid.status_code == 200, paid.text
        order = paid.json()

    mails = mailbox.wait_for(ann["email"], 2)
    confirmed = mails[1]
    text, html = confirmed.bodies()
    assert confirmed.message["Subject"] == "Order confirmed: SKU A"
    ships = format_date(date.fromisoformat(order["ship_date"]), "medium", locale="en")
    assert f"It ships on {ships}." in text
    assert ships in html
    assert "€10.00" in text
    assert confirmed.link("/orders/") == f"{server.base_url}/orders/{order['id']}"
    assert len({m.message["Message-ID"] for m in mails}) == 2


def email_states(data: Path, fans: list[str]) -> Counter[tuple[str, int]]:
    """(state, attempts) of the fans' notifications, read beside the running server."""
    uri = f"file:{data / 'soldout.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        marks = ",".join("?" * len(fans))
        rows = db.execute(
            f"SELECT email_state, email_attempts FROM notifications WHERE fan_id IN ({marks})",
            fans,
        ).fetchall()
    return Counter((state, attempts) for state, attempts in rows)


def test_mail_waits_while_the_relay_is_down_and_goes_once_it_is_up(tmp_path: Path) -> None:
    box = Mailbox(free_port())  # not listening yet: the relay is down
    server = serve(tmp_path, box.port)
    server.start()
    try:
        with server.admin() as admin, server.client() as anyone:
            launch = create_launch(admin, batch={"A": 5}, opens_in=3600)
            fans = [join(anyone, f"Fan{i}") for i in range(3)]
            for fan in fans:
                response = anyone.post(
                    f"/api/v1/launches/{launch['id']}/reservations", headers=bearer(fan)
                )
                assert response.status_code == 201, response.text
        ids = [f["id"] for f in fans]
        # The outbox tried, and said so in the log (the URL, never a password) ...
        tried = eventually(server.log.read_text, lambda log: "unreachable" in log, 15)
        assert f"mail relay smtp://127.0.0.1:{box.port}" in tried
        # ... and charged no message a try: they wait, pending.
        assert email_states(server.data, ids) == {("pending", 0): 3}

        box.start()
        for fan in fans:
            box.wait_for(fan["email"])
    finally:
        server.stop()
        box.stop()
    assert email_states(server.data, ids) == {("sent", 1): 3}
    per_id = Counter(r.message["Message-ID"] for r in box.received)
    assert len(per_id) == 3
    assert set(per_id.values()) == {1}


def test_every_voter_of_a_shipped_idea_is_mailed_once(
    server: ServerProcess, mailbox: Mailbox
) -> None:
    with server.admin() as admin, server.client() as anyone:
        product = create_launch(admin)["product_id"]
        ann, bob = join(anyone, "Ann"), join(anyone, "Bob")
        ideas = []
        for fan, title in ((ann, "Louder speaker"), (bob, "Longer battery")):
            made = anyone.post(
                f"/api/v1/products/{product}/ideas", json={"title": title}, headers=bearer(fan)
            )
            assert made.status_code == 201, made.text
            ideas.append(made.json()["id"])
        voted = anyone.put(f"/api/v1/ideas/{ideas[0]}/vote", headers=bearer(bob))
        assert voted.status_code == 200, voted.text
        body = {"title": "firmware 1.4", "ideas": ideas}
        release = admin.post(f"/api/v1/products/{product}/releases", json=body)
        assert release.status_code == 201, release.text
    [to_bob] = mailbox.wait_for(bob["email"])  # he voted for both: one e-mail
    text, html = to_bob.bodies()
    assert to_bob.message["Subject"] == "You asked for it: firmware 1.4"
    assert "Ideas you voted for are in firmware 1.4." in text
    assert "Louder speaker" in text
    assert "Longer battery" in html
    assert to_bob.link("/releases/") == f"{server.base_url}/releases/{release.json()['id']}"
    [to_ann] = mailbox.wait_for(ann["email"])
    assert "An idea you voted for is in firmware 1.4." in to_ann.bodies()[0]
    assert "Longer battery" not in to_ann.bodies()[0]
    assert len(mailbox.to(bob["email"])) == 1
