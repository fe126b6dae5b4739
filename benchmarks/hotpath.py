"""The claim hot path in-process: microseconds of Python per claim, soldout vs its ceiling.

    .venv/bin/python -m benchmarks.hotpath   (from the project root, once dev.py made .venv)

No server and no wrk: claims go straight to the RSGI entry point Granian calls
(`RsgiFront.__rsgi__`) with a stand-in scope and protocol, against a real platform on
SQLite in a temporary directory (group commit, WAL, synchronous=FULL). The same requests
go to `benchmarks/skeleton.py`, the least a claim can cost, in the same run. The wire
benchmark (`claims_wrk.py`) moves by 15-25 % between runs on a shared 2-core machine;
this one shows what a change to the Python path itself does. Each figure is the best of
several rounds: interference only ever adds time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvloop

from benchmarks.claims_wrk import ADMIN, setup_launches
from benchmarks.skeleton import Skeleton
from soldout.api.app import build_app
from soldout.api.lifespan import Lifespan
from soldout.api.rsgi import RsgiFront
from soldout.api.server import make_platform
from soldout.settings import Settings

BODY = b'{"sku":"A"}'
BATCH = 64  # durable claims in flight together, as connections of a load would be


class Scope:
    """What Granian hands the app, as far as the claim path reads it."""

    method = "POST"
    client = "127.0.0.1:40000"

    def __init__(self, path: str, token: str, key: str) -> None:
        self.path = path
        self.headers = {
            "authorization": f"Bearer {token}",
            "idempotency-key": key,
            "content-type": "application/json",
            "content-length": str(len(BODY)),
        }


class Protocol:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()

    async def __call__(self) -> bytes:
        return BODY

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.statuses[status] += 1


App = Callable[[Any, Protocol], Awaitable[None]]


async def best_of(rounds: int, app: App, path: str, tokens: list[str], durable: bool) -> float:
    """Microseconds per claim, best round. Durable claims go `BATCH` at a time, so that
    each group commit carries a batch, as under load."""
    count = BATCH * 100 if durable else 5000
    best = float("inf")
    for round_ in range(rounds):
        protocol = Protocol()
        scopes = [
            Scope(path, tokens[i % len(tokens)], f"{durable}-{round_}-{i}") for i in range(count)
        ]
        started = time.perf_counter()
        if durable:
            for i in range(0, count, BATCH):
                await asyncio.gather(*(app(s, protocol) for s in scopes[i : i + BATCH]))
        else:
            for scope in scopes:
                await app(scope, protocol)
        best = min(best, (time.perf_counter() - started) / count * 1e6)
        # every answer as expected: a refusal mid-round would make the figure look faster
        assert protocol.statuses == {201 if durable else 409: count}, protocol.statuses
    return best


async def setup(front: Any) -> tuple[str, str, list[str]]:
    """The wire benchmark's launches and fans, made through the app in-process."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=front),
        base_url="http://bench",
        headers={"authorization": f"Bearer {ADMIN}"},
    ) as admin:
        return await setup_launches(admin)


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="soldout-hotpath-") as folder:
        data = Path(folder)
        settings = Settings(
            data=data / "soldout",
            admin_token=ADMIN,
            rate_limit_fan=0,
            rate_limit_address=0,
            signup_limit=0,
        )
        platform, _, _ = make_platform(settings)
        front = build_app(platform, max_body=settings.max_body_bytes)
        lifespan = Lifespan(front)
        await lifespan.startup()
        try:
            big, gone, tokens = await setup(front)
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)  # as the server sets it
            soldout = RsgiFront(front, lifespan.state, data / "spool").__rsgi__
            claims = "/api/v1/launches/{}/claims"
            figures = {
                "sold out": (
                    await best_of(rounds, soldout, claims.format(gone), tokens, durable=False),
                    await best_of(rounds, Skeleton(data / "s1.db", 0).__rsgi__, "/", tokens, False),
                ),
                "durable": (
                    await best_of(rounds, soldout, claims.format(big), tokens, durable=True),
                    await best_of(
                        rounds, Skeleton(data / "s2.db", 10**9).__rsgi__, "/", tokens, True
                    ),
                ),
            }
        finally:
            await lifespan.shutdown()
    print(f"{'claim':<10}{'soldout us':>12}{'skeleton us':>13}{'ratio':>8}")
    for name, (ours, ceiling) in figures.items():
        print(f"{name:<10}{ours:>12.2f}{ceiling:>13.2f}{ours / ceiling:>8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="best of this many rounds")
    uvloop.run(main(parser.parse_args().rounds))
