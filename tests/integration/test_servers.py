"""The same answers under both servers: Granian (claims over RSGI, the rest bridged to
ASGI) and uvicorn (ASGI throughout). Each test runs once per server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ADMIN_TOKEN, ServerProcess, claim, create_launch, error, register


@pytest.fixture(scope="module", params=["granian", "uvicorn"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data: Path = tmp_path_factory.mktemp(f"server-{request.param}") / "data"
    server = ServerProcess(data, env={"SOLDOUT_SERVER": request.param})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def chunks(raw: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def test_claim_replay_and_sold_out(running: ServerProcess) -> None:
    with running.admin() as admin, running.client() as anyone:
        launch = create_launch(admin, batch={"A": 1})
        first, second = register(anyone), register(anyone)
        got = claim(anyone, launch["id"], first["token"], key="k1")
        again = claim(anyone, launch["id"], first["token"], key="k1")
        late = claim(anyone, launch["id"], second["token"])
    assert got.status_code == 201, got.text
    assert (again.status_code, again.json()) == (200, got.json())
    assert got.headers["content-type"] == "application/json"
    assert error(late) == (409, "sold_out", "sku")


def test_claim_errors_keep_their_shape(running: ServerProcess) -> None:
    with running.admin() as admin, running.client() as anyone:
        launch = create_launch(admin)
        fan = register(anyone)
        path = f"/api/v1/launches/{launch['id']}/claims"
        headers = {"authorization": f"Bearer {fan['token']}", "idempotency-key": "x"}
        anonymous = anyone.post(path, json={"sku": "A"}, headers={"idempotency-key": "x"})
        malformed = anyone.post(path, content=b"{not json", headers=headers)
        huge = anyone.post(path, content=chunks(b" " * 5000), headers=headers)
        stats = admin.get(f"/api/v1/launches/{launch['id']}/stats").json()
    assert error(anonymous)[:2] == (401, "unauthorized")
    assert error(malformed)[:2] == (400, "malformed_json")
    assert error(huge) == (413, "payload_too_large", None)
    assert stats["skus"]["A"]["held"] == 0


def test_rate_limited_claims_say_when_to_retry(running: ServerProcess) -> None:
    with running.admin() as admin, running.client() as anyone:
        launch = create_launch(admin, batch={"A": 1})
        fan = register(anyone)
        answers = [claim(anyone, launch["id"], fan["token"]) for _ in range(40)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert all(int(a.headers["retry-after"]) >= 1 for a in limited)
    assert {error(a)[1] for a in limited} == {"rate_limited"}


def test_pages_cookies_streams_and_limits_outside_the_hot_path(running: ServerProcess) -> None:
    with httpx.Client(
        base_url=running.base_url, timeout=30, headers={"origin": running.base_url}
    ) as browser:
        signed_in = browser.post("/admin/signin", data={"token": ADMIN_TOKEN})
        assert signed_in.status_code == 303
        assert "httponly" in signed_in.headers["set-cookie"].lower()
        page = browser.get("/admin/launches")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<html" in page.text
        with running.admin() as admin:
            launch = create_launch(admin)
            export = admin.get("/api/v1/orders.csv")
            huge = admin.post(
                "/api/v1/products",
                content=chunks(json.dumps({"name": "x" * 70_000}).encode(), 8192),
                headers={"content-type": "application/json"},
            )
            missing = admin.get(f"/api/v1/launches/lch_{uuid.uuid4().hex}")
        # an upload's large body only from the maker, checked before it is read
        images = f"/api/v1/products/{launch['product_id']}/images"
        picture = {"image": ("photo.jpg", b"x" * 200_000, "image/jpeg")}
        forged = [
            browser.post(images, files=picture, headers={"authorization": "Bearer nope"}),
            browser.post("/admin/shop", content=b"x" * 200_000, headers={
                "cookie": "soldout_admin=nope", "content-type": "application/octet-stream"}),
        ]  # fmt: skip
        with browser.stream("GET", f"/admin/launches/{launch['id']}/live") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            kinds = (line for line in stream.iter_lines() if line.startswith("event:"))
            seen = [next(kinds).partition(":")[2].strip(), next(kinds).partition(":")[2].strip()]
        css = browser.get("/static/store.css")
    assert export.status_code == 200
    assert export.text.splitlines()[0].startswith("order_id")
    assert error(huge) == (413, "payload_too_large", None)
    assert error(missing)[:2] == (404, "not_found")
    assert [f.status_code for f in forged] == [413, 413]
    assert seen == ["history", "snapshot"]
    assert css.status_code == 200
    assert "cache-control" in css.headers
    if running.env["SOLDOUT_SERVER"] == "granian":  # streamed answers wait in the data dir
        assert (running.data / "spool").is_dir()


def test_a_header_the_server_cannot_read_is_never_taken_as_absent(
    running: ServerProcess,
) -> None:
    """Granian leaves such values out (soldout then refuses the request, naming the header);
    uvicorn reads them as Latin-1. Neither signs the admin out or loses the key."""
    with running.admin() as admin, running.client() as anyone:
        launch = create_launch(admin)
        fan = register(anyone)
        signing = anyone.post(
            "/admin/signin", data={"token": ADMIN_TOKEN}, headers={"origin": running.base_url}
        )
        session = signing.cookies["soldout_admin"]  # the cookie holds a session id
        anyone.cookies.clear()
        signed_in = anyone.get(
            "/admin/launches",
            headers={"cookie": f"soldout_admin={session}; theme=bl\xe5".encode("latin-1")},
        )
        keyed = anyone.post(
            f"/api/v1/launches/{launch['id']}/claims",
            json={"sku": "A"},
            headers={
                "authorization": f"Bearer {fan['token']}",
                "idempotency-key": "cl\xe9-1".encode("latin-1"),
            },
        )
    if signed_in.status_code == 400:
        assert error(signed_in) == (400, "bad_header", "cookie")
    else:
        assert signed_in.status_code == 200
    if keyed.status_code == 400:
        assert error(keyed) == (400, "bad_header", "idempotency-key")
    else:
        assert keyed.status_code == 201, keyed.text


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_claims_from_one_address_are_limited_whoever_sends_them(
    tmp_path: Path, server: str
) -> None:
    """The per-address limit reads the client's address only when it is on: it must still
    be read then, on both servers."""
    env = {
        "SOLDOUT_SERVER": server,
        "SOLDOUT_RATE_LIMIT_FAN": "0",
        "SOLDOUT_RATE_LIMIT_ADDRESS": "0.01",
        "SOLDOUT_RATE_LIMIT_ADDRESS_BURST": "3",
    }
    process = ServerProcess(tmp_path / "data", env=env)
    process.start()
    try:
        with process.admin() as admin, process.client() as anyone:
            launch = create_launch(admin, batch={"A": 100})
            fans = [register(anyone) for _ in range(6)]
            answers = [claim(anyone, launch["id"], fan["token"]) for fan in fans]
            stats = admin.get(f"/api/v1/launches/{launch['id']}/stats").json()
    finally:
        process.stop()
    assert [a.status_code for a in answers] == [201] * 3 + [429] * 3
    assert {error(a)[1] for a in answers[3:]} == {"rate_limited"}
    assert stats["skus"]["A"]["held"] == 3


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_a_failed_start_exits_and_says_why_once(tmp_path: Path, server: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "soldout.db").write_bytes(b"this is not a database" * 100)
    env = {**os.environ, "SOLDOUT_ADMIN_TOKEN": ADMIN_TOKEN, "SOLDOUT_SERVER": server}
    result = subprocess.run(
        [sys.executable, "-m", "soldout", "serve", "--data", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "file is not a database" in output
    assert "never retrieved" not in output
    assert output.count("Traceback (most recent call last)") <= 2, output


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_an_open_live_dashboard_does_not_hold_up_a_stop(tmp_path: Path, server: str) -> None:
    process = ServerProcess(tmp_path / "data", env={"SOLDOUT_SERVER": server})
    process.start()
    try:
        with process.admin() as admin:
            launch = create_launch(admin)
        with httpx.Client(
            base_url=process.base_url, timeout=30, headers={"origin": process.base_url}
        ) as browser:
            assert browser.post("/admin/signin", data={"token": ADMIN_TOKEN}).status_code == 303
            with browser.stream("GET", f"/admin/launches/{launch['id']}/live") as stream:
                lines = stream.iter_lines()
                assert next(line for line in lines if line.startswith("data:"))
                assert process.process is not None
                process.process.terminate()
                exit_code = process.process.wait(timeout=15)  # raises if the stop hangs
    finally:
        process.stop()
    assert exit_code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once stopped
