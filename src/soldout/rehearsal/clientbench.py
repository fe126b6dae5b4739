"""How many requests/s can the load client make? The measurement behind its choice.

    python -m soldout.rehearsal.clientbench [--seconds 5] [--connections 64] [--repeat 3]

Needs `aiohttp` installed beside soldout (it is not a dependency: a scratch environment
will do). Starts, one at a time on loopback, (a) a raw ASGI hello-world under the same
Granian call soldout uses and (b) `soldout serve` with a launch whose only unit is taken,
so that every claim is answered `409 sold_out` on the hot path. Against each, for each
client (httpx.AsyncClient, aiohttp, raw asyncio streams with keep-alive HTTP/1.1), in one
process and in two, it counts answers in `--seconds` seconds, `--repeat` times, and
keeps the median. Results go to stdout as a table; docs/rehearsal.md keeps the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from soldout.rehearsal.transport import Http11Pool

ADMIN = "adm_clientbench_token_of_32_characters"
HELLO_APP = """
import sys
from soldout.api.server import serve_asgi
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")]}
END = {"type": "http.response.body", "body": b'{"ok":true}'}
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(START)
    await send(END)
serve_asgi(app, "127.0.0.1", int(sys.argv[1]), "granian")
"""

Target = tuple[str, str, dict[str, str], bytes | None]  # method, path, headers, body
Requests = list[Target]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _start(args: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait(port, process)
    return process


def _sold_out_requests(base: str, fans: int = 200) -> Requests:
    """A launch with one unit, taken: every further claim is `409 sold_out`."""
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {ADMIN}"}) as admin:
        sku = {"code": "A", "name": "A", "price": 100, "currency": "EUR"}
        product = admin.post("/api/v1/products", json={"name": "bench", "skus": [sku]}).json()
        opens = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        launch = admin.post(
            "/api/v1/launches",
            json={
                "product_id": product["id"],
                "title": "bench",
                "sale_opens_at": opens,
                "batch": {"A": 1},
            },
        ).json()
        tokens = [
            admin.post(
                "/api/v1/fans", json={"email": f"b{i}-{uuid.uuid4().hex}@x.test", "name": "b"}
            ).json()["token"]
            for i in range(fans)
        ]
        path = f"/api/v1/launches/{launch['id']}/claims"
        first = admin.post(
            path,
            content=b'{"sku":"A"}',
            headers={"authorization": f"Bearer {tokens[0]}", "idempotency-key": "first"},
        )
        assert first.status_code == 201, first.text
    return [
        (
            "POST",
            path,
            {
                "authorization": f"Bearer {t}",
                "idempotency-key": uuid.uuid4().hex,
                "content-type": "application/json",
            },
            b'{"sku":"A"}',
        )
        for t in tokens
    ]


Send = Callable[[Target], Awaitable[int]]


async def _drive(send: Send, requests: Requests, connections: int, seconds: float) -> int:
    done = 0
    stop = time.monotonic() + seconds

    async def worker(i: int) -> None:
        nonlocal done
        n = i
        while time.monotonic() < stop:
            await send(requests[n % len(requests)])
            n += connections
            done += 1

    await asyncio.gather(*(worker(i) for i in range(connections)))
    return done


async def _raw(base: str, requests: Requests, connections: int, seconds: float) -> int:
    pool = Http11Pool(base, connections)

    async def send(target: Target) -> int:
        method, path, headers, body = target
        return (await pool.request(method, path, headers, body, 10)).status

    try:
        return await _drive(send, requests, connections, seconds)
    finally:
        await pool.aclose()


async def _httpx(base: str, requests: Requests, connections: int, seconds: float) -> int:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def send(target: Target) -> int:
            method, path, headers, body = target
            return (await client.request(method, path, headers=headers, content=body)).status_code

        return await _drive(send, requests, connections, seconds)


async def _aiohttp(base: str, requests: Requests, connections: int, seconds: float) -> int:
    aiohttp: Any = importlib.import_module("aiohttp")
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def send(target: Target) -> int:
            method, path, headers, body = target
            async with session.request(method, path, headers=headers, data=body) as reply:
                await reply.read()
                status: int = reply.status
                return status

        return await _drive(send, requests, connections, seconds)


CLIENTS = {"httpx": _httpx, "aiohttp": _aiohttp, "raw": _raw}


def _one(client: str, base: str, requests: Requests, connections: int, seconds: float) -> float:
    """Requests/s of one process (its own clock, so start-up is not counted)."""
    import uvloop

    started = time.monotonic()
    done = uvloop.run(CLIENTS[client](base, requests, connections, seconds))
    return done / (time.monotonic() - started)


def measure(
    client: str, base: str, requests: Requests, connections: int, seconds: float, processes: int
) -> float:
    if processes == 1:
        return _one(client, base, requests, connections, seconds)
    each = max(1, connections // processes)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        rates = pool.starmap(
            _one, [(client, base, requests, each, seconds) for _ in range(processes)]
        )
    return sum(rates)


Row = tuple[str, str, int, float]  # endpoint, client, processes, requests/s


def _series(endpoint: str, base: str, requests: Requests, args: argparse.Namespace) -> list[Row]:
    rows = []
    for client in args.clients.split(","):
        for processes in (1, 2):
            rate = statistics.median(
                measure(client, base, requests, args.connections, args.seconds, processes)
                for _ in range(args.repeat)
            )
            rows.append((endpoint, client, processes, rate))
            print(f"{endpoint:14} {client:8} x{processes}: {rate:8.0f} req/s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--clients", default="httpx,aiohttp,raw")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        hello = Path(tmp) / "hello.py"
        hello.write_text(HELLO_APP)
        server = _start([str(hello), str(port)], port, {})
        try:
            rows += _series(
                "hello-world", f"http://127.0.0.1:{port}", [("GET", "/", {}, None)], args
            )
        finally:
            server.terminate()
            server.wait()
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "SOLDOUT_ADMIN_TOKEN": ADMIN,
            "SOLDOUT_RATE_LIMIT_FAN": "0",
            "SOLDOUT_SIGNUP_LIMIT": "0",  # every fan signs up from this one address
        }
        data = str(Path(tmp) / "data")
        server = _start(["-m", "soldout", "serve", "--data", data, "--port", str(port)], port, env)
        try:
            rows += _series("sold-out claim", base, _sold_out_requests(base), args)
        finally:
            server.terminate()
            server.wait()
    print()
    print("| endpoint | client | processes | requests/s |")
    print("| --- | --- | --- | --- |")
    for endpoint, client, processes, rate in rows:
        print(f"| {endpoint} | {client} | {processes} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
