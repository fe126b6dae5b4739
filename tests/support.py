"""Helpers for tests that drive a real soldout server process over HTTP."""

from __future__ import annotations

import contextlib
import email
import email.policy
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from soldout.services.demo_art import phone_back, phone_front

ADMIN_TOKEN = "adm_test_token_for_the_whole_suite_32+"  # (soldout refuses one under 32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """`soldout serve` in a child process; `kill()` is SIGKILL, `start()` starts it again on
    the same data directory and port."""

    def __init__(
        self,
        data: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.data = data
        self.env = env or {}
        self.args = args or []  # more of `soldout serve`'s options
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._pump_thread: threading.Thread | None = None
        self.log = data.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until the server says it is listening (read from its output)."""
        env = {
            **os.environ,
            "SOLDOUT_ADMIN_TOKEN": ADMIN_TOKEN,
            "SOLDOUT_LOG_LEVEL": "info",
            "SOLDOUT_SIGNUP_LIMIT": "0",  # the suite makes many fans from one address
            **self.env,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "soldout",
                "serve",
                "--data",
                str(self.data),
                "--port",
                str(self.port),
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        listening = threading.Event()
        self._pump_thread = threading.Thread(
            target=self._pump, args=(self.process, listening), daemon=True
        )
        self._pump_thread.start()
        if not listening.wait(timeout) or not self._accepting(time.monotonic() + timeout):
            self.stop()
            raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")
        if "--workers" in self.args:
            self._workers_ready(timeout)

    def _workers_ready(self, timeout: float) -> None:
        """Several workers on the port (docs/scale-out.md): each can sell and reaches the
        owner, asked over a connection of its own (the kernel gives it to either one)."""
        for _ in range(16):
            eventually(
                lambda: httpx.get(f"{self.base_url}/healthz", timeout=10).status_code,
                lambda status: status == 200,
                timeout,
            )

    def _accepting(self, deadline: float) -> bool:
        """Granian opens its listener just after the app's start-up: connect until it
        accepts (the condition itself, polled), or the process exits, or time runs out."""
        assert self.process is not None
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                continue
        return False

    def _pump(self, process: subprocess.Popen[bytes], listening: threading.Event) -> None:
        assert process.stdout is not None
        with self.log.open("ab") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()
                # Our own line comes at the end of the app's start-up (Granian listens
                # right after it: see _accepting); uvicorn listens after it, and says so.
                if b"soldout serving on" in line and b"server: granian" in line:
                    listening.set()
                if b"Uvicorn running on" in line:
                    listening.set()
        process.stdout.close()
        listening.set()  # exited: let start() see it

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self._reap(self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process is not None:
            self._reap(self.process)

    def _reap(self, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=10)
            self._pump_thread = None

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def admin(self) -> httpx.Client:
        return self.client(ADMIN_TOKEN)


STORES = ["sqlite", "postgresql"]  # `params` of a fixture that runs tests on both stores
SCALE_OUT = "scale-out"  # PostgreSQL, a Redis, the owner and two workers (docs/scale-out.md)


@contextlib.contextmanager
def server_on(
    store: str, data: Path, request: pytest.FixtureRequest, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """A started server on `store`: the embedded SQLite in `data`, or a fresh database on
    the session's PostgreSQL (tests/postgres.py; the module must load it with
    `pytest_plugins = ["tests.postgres"]`)."""
    env = dict(env or {})
    args: list[str] = []
    with contextlib.ExitStack() as stack:
        if store in ("postgresql", SCALE_OUT):
            target = request.getfixturevalue("postgres_server")
            env["SOLDOUT_STORE"] = stack.enter_context(target.database())
        if store == SCALE_OUT:  # the owner and two workers sharing the port
            from tests.redis_server import RedisServer

            env["SOLDOUT_REDIS"] = stack.enter_context(RedisServer()).url
            env["SOLDOUT_OWNER_PORT"] = str(free_port())
            args = ["--workers", "2"]
        server = ServerProcess(data, env=env, args=args)
        server.start()
        stack.callback(server.stop)
        yield server


def iso(moment: datetime) -> str:
    return moment.isoformat()


def now() -> datetime:
    return datetime.now(UTC)


def create_launch(
    admin: httpx.Client,
    *,
    batch: dict[str, int] | None = None,
    opens_in: float = -1.0,
    **rules: Any,
) -> dict[str, Any]:
    """A product with SKUs A (1000 EUR cents) and B, and a launch that is on sale now
    (or opens in `opens_in` seconds). Returns the launch as the API answered it.

    The fast, unguarded race unless `race` says otherwise: these tests drive claims
    directly and turn on each protection they test (the API's default is the fair race,
    tested in tests/unit/test_fair_defaults.py)."""
    rules.setdefault("race", "fast")
    batch = batch or {"A": 50}
    skus = [
        {"code": code, "name": f"SKU {code}", "price": 1000 + i, "currency": "EUR", "cost": 900}
        for i, code in enumerate(sorted({*batch, "A", "B"}))
    ]
    product = admin.post("/api/v1/products", json={"name": "Model One", "skus": skus})
    assert product.status_code == 201, product.text
    body = {
        "product_id": product.json()["id"],
        "title": "test launch",
        "sale_opens_at": iso(now() + timedelta(seconds=opens_in)),
        "batch": batch,
        **rules,
    }
    launch = admin.post("/api/v1/launches", json=body)
    assert launch.status_code == 201, launch.text
    result: dict[str, Any] = launch.json()
    return result


T = TypeVar("T")


def eventually(read: Callable[[], T], until: Callable[[T], bool], timeout: float) -> T:
    """Read the state of a server process (over HTTP) until `until` holds for it, or fail
    after `timeout` seconds. The server runs on the real clock in another process (its
    sweeper, its provider's webhooks): there is no event to wait on here, so the state
    itself is read again after a short pause."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        assert time.monotonic() < deadline, f"not reached within {timeout} s: {value}"
        time.sleep(0.05)


_ADDRESSES = itertools.count(1)


def shipping_address(name: str = "Ann Fan") -> dict[str, str]:
    """A shipping address of its own (street and phone unique in this run, so fans made
    with it are never taken for duplicate buyers)."""
    n = next(_ADDRESSES)
    return {
        "name": name,
        "line1": f"Teststraat {n}",
        "postal_code": "1015 CD",
        "city": "Amsterdam",
        "country": "NL",
        "phone": f"+31 20 5{n % 1_000_000:06d}",
    }


STORY = (
    "A phone made with its fans, sold near cost.\n\n## Shaped by the people who use it\n\n"
    "Every batch ships with what fans asked for. **One per fan**, so it reaches fans."
)


def dress(admin: httpx.Client, product_id: str) -> None:
    """Give a product what a real launch page shows: pictures, a story, specs."""
    for picture in (phone_front(), phone_back()):
        added = admin.post(
            f"/api/v1/products/{product_id}/images",
            files={"image": ("phone.png", picture, "image/png")},
        )
        assert added.status_code == 201, added.text
    specs = [{"label": "Display", "value": '6.1" OLED'}, {"label": "Weight", "value": "178 g"}]
    changed = admin.patch(
        f"/api/v1/products/{product_id}", json={"description": STORY, "specs": specs}
    )
    assert changed.status_code == 200, changed.text


def register(
    client: httpx.Client,
    name: str | None = None,
    *,
    with_address: bool = True,
    line1: str | None = None,
) -> dict[str, Any]:
    """A fan made over the API; with a shipping address unless told otherwise (paying
    needs one), on the street `line1` if given (a phone of their own)."""
    name = name or uuid.uuid4().hex[:12]
    body: dict[str, Any] = {"email": f"{name}@fans.test", "name": name}
    if with_address:
        body["shipping"] = shipping_address(name)
        if line1 is not None:
            body["shipping"]["line1"] = line1
    response = client.post("/api/v1/fans", json=body)
    assert response.status_code == 201, response.text
    fan: dict[str, Any] = response.json()
    return fan


def claim(
    client: httpx.Client,
    launch_id: str,
    token: str,
    sku: str = "A",
    key: str | None = None,
    **extra: Any,
) -> httpx.Response:
    return client.post(
        f"/api/v1/launches/{launch_id}/claims",
        json={"sku": sku, **extra},
        headers={"authorization": f"Bearer {token}", "idempotency-key": key or uuid.uuid4().hex},
    )


def pay(client: httpx.Client, claim_id: str, token: str, key: str = "pay") -> httpx.Response:
    """Pay for the fan's held claim with the test provider's card that pays."""
    return client.post(
        f"/api/v1/claims/{claim_id}/payment",
        json={"method": "test", "token": "tok_ok"},
        headers={"authorization": f"Bearer {token}", "idempotency-key": key},
    )


def error(response: httpx.Response) -> tuple[int, str, str | None]:
    """(status, code, field) of an error answer, checking the error body's shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"], body["error"]["field"]


def mailed_sign_in_link(server: ServerProcess, to: str, after: int = 0) -> str:
    """The newest sign-in link in an e-mail sent to `to`, as the outbox wrote it (no SMTP
    server is set: the e-mails are files in the data directory's `mail`); `after`: wait
    for more than that many links to `to` (those mailed before)."""
    return eventually(lambda: sign_in_links(server, to), lambda f: len(f) > after, timeout=20)[-1]


def sign_in_links(server: ServerProcess, to: str) -> list[str]:
    found = []
    for eml in sorted((server.data / "mail").glob("*.eml")):
        message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        if to in str(message["To"]):
            body = message.get_body(("plain",))
            text = body.get_content() if isinstance(body, EmailMessage) else ""
            found += re.findall(r"https?://\S+/signin/[\w.=-]+", text)
    return found


def join_by_mail(
    client: httpx.Client, server: ServerProcess, form: dict[str, str]
) -> httpx.Response:
    """Join by the storefront's form, then sign in by the link it mailed, as a fan does
    (joining answers "check your e-mail" alone): the link's answer, with the cookie."""
    joined = client.post("/join", data=form)
    assert joined.status_code == 200, joined.text
    link = mailed_sign_in_link(server, form["email"])
    return client.post(link.removeprefix(server.base_url))


async def join_in_process(
    browser: httpx.AsyncClient, platform: Any, form: dict[str, str]
) -> httpx.Response:
    """`join_by_mail` for an in-process platform: the link from its notifications."""
    joined = await browser.post("/join", data=form)
    assert joined.status_code == 200, joined.text
    fan = await platform.store.fans.by_email(form["email"].lower())
    assert fan is not None, form
    notes = await platform.store.notifications.for_fan(fan.id, 10)
    path = next(n.data["path"] for n in notes if n.kind == "sign_in_link")
    answer: httpx.Response = await browser.post(path)
    return answer


def open_mailed_link(page: Any, server: ServerProcess, email: str) -> None:
    """In a browser, after the join form: open the link the shop mailed (as the fan does
    from their mailbox) and press its button."""
    page.locator("#join-sent").wait_for()  # ("check your e-mail", in any language)
    page.goto(mailed_sign_in_link(server, email))
    page.locator("#signin-confirm").click()
