"""The server's log (issue 16): one JSON object per line with `SOLDOUT_LOG_FORMAT=json`,
an access line per request with its id, route, status, latency and fan, and never a
token or a card's details."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from soldout.logs import JsonFormatter
from tests.support import (
    ADMIN_TOKEN,
    ServerProcess,
    claim,
    create_launch,
    eventually,
    mailed_sign_in_link,
    register,
)

CLAIMS = "/api/v1/launches/{launch_id}/claims"


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def json_server(tmp_path_factory: pytest.TempPathFactory, request: Any) -> Iterator[ServerProcess]:
    env = {
        "SOLDOUT_LOG_FORMAT": "json",
        "SOLDOUT_LOG_LEVEL": "info",
        "SOLDOUT_SERVER": request.param,
    }
    process = ServerProcess(tmp_path_factory.mktemp("logs") / "data", env=env)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def json_lines(server: ServerProcess) -> list[dict[str, Any]]:
    """Every log line as an object: a line that starts like JSON must parse as JSON."""
    lines = server.log.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def access_line(server: ServerProcess, request_id: str) -> dict[str, Any]:
    """The one access line of the request with this id (written once it is answered)."""
    found = eventually(
        lambda: [
            line
            for line in json_lines(server)
            if line["logger"] == "soldout.access" and line.get("request_id") == request_id
        ],
        bool,
        timeout=5,
    )
    assert len(found) == 1, found
    return found[0]


def test_a_claim_a_payment_and_a_404_each_log_one_json_line(json_server: ServerProcess) -> None:
    with json_server.client() as anyone, json_server.admin() as admin:
        launch_id = create_launch(admin, batch={"A": 5})["id"]
        fan = register(anyone)
        claimed = claim(anyone, launch_id, fan["token"])
        assert claimed.status_code == 201, claimed.text
        claim_id = claimed.json()["id"]
        paid = anyone.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={
                "authorization": f"Bearer {fan['token']}",
                "idempotency-key": uuid.uuid4().hex,
                "x-request-id": "pay-1",
            },
        )
        assert paid.status_code == 200, paid.text
        # one the front path hands to the app (a field it does not know): the app's answer,
        # and the line still names the route and the fan
        handed = anyone.post(
            f"/api/v1/claims/{claim_id}/payment",
            json={"method": "test", "token": "tok_ok", "colour": "red"},
            headers={
                "authorization": f"Bearer {fan['token']}",
                "idempotency-key": uuid.uuid4().hex,
                "x-request-id": "pay-2",
            },
        )
        assert (handed.status_code, handed.json()["error"]["field"]) == (422, "colour")
        missing = anyone.get("/api/v1/nowhere", headers={"x-request-id": "not found!"})
        assert missing.status_code == 404
        document = anyone.get("/openapi.json", headers={"x-request-id": "doc-1"})
        assert document.status_code == 200

    claim_line = access_line(json_server, claimed.headers["x-request-id"])
    assert claim_line["route"] == CLAIMS
    assert (claim_line["method"], claim_line["status"]) == ("POST", 201)
    assert claim_line["fan_id"] == fan["id"]
    assert claim_line["level"] == "INFO"
    assert claim_line["time"].endswith("Z")
    assert isinstance(claim_line["latency_ms"], float)

    assert paid.headers["x-request-id"] == "pay-1"  # a sane id of the client's is kept
    pay_line = access_line(json_server, "pay-1")
    assert pay_line["route"] == "/api/v1/claims/{claim_id}/payment"
    assert (pay_line["status"], pay_line["fan_id"]) == (200, fan["id"])
    handed_line = access_line(json_server, "pay-2")
    assert (handed_line["route"], handed_line["status"], handed_line["fan_id"]) == (
        "/api/v1/claims/{claim_id}/payment",
        422,
        fan["id"],
    )

    generated = missing.headers["x-request-id"]
    assert generated != "not found!"  # (a space: replaced by one of ours)
    missing_line = access_line(json_server, generated)
    assert (missing_line["route"], missing_line["status"], missing_line["fan_id"]) == (
        None,
        404,
        None,
    )

    assert access_line(json_server, "doc-1")["route"] == "/openapi.json"  # (a plain route)
    # the outbox's pass is one line with its figures as fields (it was a Python repr)
    mailed = eventually(
        lambda: [line for line in json_lines(json_server) if "emails" in line],
        bool,
        timeout=10,
    )
    assert mailed[0]["logger"] == "soldout.mail.outbox"
    assert mailed[0]["emails"]["sent"] >= 1
    assert "Tally(" not in mailed[0]["message"]

    text = json_server.log.read_text()
    for secret in (fan["token"], ADMIN_TOKEN, "tok_ok"):
        assert secret not in text
    assert f"/api/v1/claims/{claim_id}" not in text  # templates, never paths


def test_the_storefronts_form_posts_log_the_signed_in_fan(json_server: ServerProcess) -> None:
    """A browser signed in by its session cookie (no token): its form posts and pages name
    the fan as the API's requests do, and the line never holds the cookie or the link."""
    with json_server.client() as anyone:
        name = uuid.uuid4().hex[:12]
        fan = register(anyone, name, with_address=False)
        email = f"{name}@fans.test"
        asked = anyone.post("/signin", data={"email": email, "next": "/me"})
        assert asked.status_code == 200, asked.text
    link = mailed_sign_in_link(json_server, email)
    with json_server.client() as browser:
        path = link.removeprefix(json_server.base_url)
        signed_in = browser.post(path, headers={"x-request-id": "web-link"})
        assert signed_in.status_code == 303, signed_in.text
        session = browser.cookies["soldout_fan"]
        posts = {
            "web-address": browser.post("/me/address", data={"name": "Ann", "line1": ""}),
            "web-zone": browser.post("/me/time-zone", data={"zone": "Europe/Amsterdam"}),
            "web-language": browser.get("/language/nl", params={"next": "/me"}),
            "web-signout": browser.post("/signout"),
        }
    ids = {name: answer.headers["x-request-id"] for name, answer in posts.items()}
    assert posts["web-address"].status_code == 422  # (refused, and still the fan's line)
    for name in ("web-link", *ids):
        line = access_line(json_server, ids.get(name, name))
        assert line["fan_id"] == fan["id"], (name, line)
    assert access_line(json_server, ids["web-address"])["route"] == "/me/address"
    assert access_line(json_server, "web-link")["route"] == "/signin/{token}"
    text = json_server.log.read_text()
    assert session not in text
    assert path.removeprefix("/signin/") not in text


def test_text_mode_stays_human_readable(shared_server: ServerProcess) -> None:
    with shared_server.client() as anyone:
        missing = anyone.get("/api/v1/nowhere", headers={"x-request-id": "text-404-check"})
    assert missing.status_code == 404
    line = eventually(
        lambda: [x for x in shared_server.log.read_text().splitlines() if "text-404-check" in x],
        bool,
        timeout=5,
    )
    assert len(line) == 1
    assert line[0].startswith("INFO soldout.access: GET - 404 ")
    assert line[0].endswith(" fan=- id=text-404-check")


def test_an_error_and_its_traceback_make_one_json_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "soldout.x", logging.ERROR, __file__, 1, "claim %s", ("x",), None
        )
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["level"], parsed["logger"], parsed["message"]) == (
        "ERROR",
        "soldout.x",
        "claim x",
    )
    assert "RuntimeError: boom" in parsed["traceback"]
