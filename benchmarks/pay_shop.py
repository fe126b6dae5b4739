"""The shop `benchmarks.pay` measures: a real `soldout serve` with launches too large to sell
out and fans with a shipping address, each fan claiming its own (launch, SKU).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from benchmarks.claims_wrk import ADMIN, free_port, stop, wait_for_port
from benchmarks.pay_wrk import LUA, Server

SERVE = [sys.executable, "-m", "soldout", "serve"]
SKUS = 200  # soldout's most per product (domain.products.MAX_SKUS)
FANS = 1000  # five launches of 200 SKUs; each fan has its own (launch, SKU)
PER_FAN = 1000  # the most a launch allows; a fan claims far fewer in a run
SHIPPING = {
    "name": "Ann de Vries",
    "line1": "Keizersgracht 1",
    "postal_code": "1015 CD",
    "city": "Amsterdam",
    "country": "NL",
    "phone": "020 123 4567",
}


async def setup(base: str) -> tuple[list[str], list[str]]:
    """Launches too large to sell out (no waiting room, no proof of work: `race: fast`) and
    `FANS` fans with a shipping address; returns the launch ids and one line per fan
    ("token launch_id sku") for the Lua script."""
    now = datetime.now(UTC)
    skus = [
        {"code": f"S{i}", "name": f"S{i}", "price": 19900, "currency": "EUR", "cost": 18000}
        for i in range(SKUS)
    ]
    auth = {"authorization": f"Bearer {ADMIN}"}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60, limits=limits) as http:
        made = await http.post("/api/v1/products", json={"name": "Bench", "skus": skus})
        made.raise_for_status()
        # a production plan for each SKU, as a real sale has: every order gets its ship date
        day = now.date().isoformat()
        plan = {"starts_on": day, "rates": [{"starts_on": day, "units_per_day": 500}]}
        for s in skus:
            product = made.json()["id"]
            planned = await http.put(f"/api/v1/products/{product}/skus/{s['code']}/plan", json=plan)
            planned.raise_for_status()
        launches = []
        for n in range(-(-FANS // SKUS)):
            body = {
                "product_id": made.json()["id"],
                "title": f"pay bench {n}",
                "sale_opens_at": (now - timedelta(seconds=1)).isoformat(),
                "per_fan_limit": PER_FAN,
                "payment_window_seconds": 86400,
                "batch": {s["code"]: 1_000_000 for s in skus},
                "race": "fast",
            }
            response = await http.post("/api/v1/launches", json=body)
            response.raise_for_status()
            launches.append(response.json()["id"])

        async def fan(i: int) -> str:
            r = await http.post(
                "/api/v1/fans", json={"email": f"p{i}@bench.test", "name": f"Fan {i}"}
            )
            r.raise_for_status()
            token: str = r.json()["token"]
            shipped = await http.put(
                "/api/v1/me/shipping", json=SHIPPING, headers={"authorization": f"Bearer {token}"}
            )
            shipped.raise_for_status()
            return f"{token} {launches[i // SKUS]} S{i % SKUS}"

        lines = await asyncio.gather(*(fan(i) for i in range(FANS)))
    return launches, list(lines)


def check_one_payment(server: Server, body: str, expected: int) -> None:
    """A claim and its payment through the API before anything is timed: the path works."""
    token, launch, sku = server.fans.read_text().split("\n", 1)[0].split()
    fan = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    with httpx.Client(base_url=server.base, headers=fan, timeout=30) as http:
        claim = http.post(
            f"/api/v1/launches/{launch}/claims",
            json={"sku": sku},
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert claim.status_code == 201, claim.text
        paid = http.post(
            f"/api/v1/claims/{claim.json()['id']}/payment",
            content=body,
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert paid.status_code == expected, paid.text


@contextlib.contextmanager
def serving(work: Path, extra: dict[str, str], port: int | None = None) -> Iterator[Server]:
    """`soldout serve` with its launches and fans made."""
    port = port or free_port()
    # wrk replays a few fans from one address: rate limits would measure themselves.
    env = {
        **os.environ,
        "SOLDOUT_ADMIN_TOKEN": ADMIN,
        "SOLDOUT_RATE_LIMIT_FAN": "0",
        "SOLDOUT_RATE_LIMIT_ADDRESS": "0",
        "SOLDOUT_SIGNUP_LIMIT": "0",  # every fan signs up from this one address
        **extra,
    }
    work.mkdir(parents=True)
    process = subprocess.Popen(
        [*SERVE, "--data", str(work / "data"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_for_port(port, process)
        launches, lines = asyncio.run(setup(f"http://127.0.0.1:{port}"))
        server = Server(process, port, work / "pay.lua", work / "fans.txt", launches)
        server.fans.write_text("\n".join(lines) + "\n")
        server.script.write_text(LUA)
        yield server
    finally:
        stop(process)


def paid_units(server: Server) -> int:
    """Units paid across the benchmark's launches, from the server's stats."""
    paid = 0
    with httpx.Client(base_url=server.base, headers={"authorization": f"Bearer {ADMIN}"}) as admin:
        for launch in server.launches:
            for sku in admin.get(f"/api/v1/launches/{launch}/stats").json()["skus"].values():
                paid += sku["paid"]
    return paid
