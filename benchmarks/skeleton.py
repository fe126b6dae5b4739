"""The ceiling: the least a claim can cost in Python on this server, measured beside soldout.

A claim here does only what no implementation can skip: read the two headers and the JSON
body, look the (fan, key) pair up for a replay, take a unit from one counter, and for a
durable claim write the same 13-column row soldout writes, by group commit in WAL mode
with `synchronous=FULL`, before answering. No token check, no validation, no rules, no
rate limits, one launch and one SKU. Under Granian it answers over RSGI (as soldout's
claim path does), under uvicorn over ASGI. The garbage collector is tuned as soldout's
server tunes it. Whatever soldout reaches, it cannot reach more than this.

    python3 benchmarks/skeleton.py --server granian --port 8001 --mode durable|sold_out
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from soldout.api.server import serve_asgi

ROW = "(" + ", ".join("?" * 13) + ")"
SOLD_OUT = b'{"error":{"code":"sold_out","message":"sold out","field":"sku"}}'
JSON = ("content-type", "application/json")


class Skeleton:
    def __init__(self, database: Path, units: int) -> None:
        self._db = sqlite3.connect(database, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE claims (id TEXT PRIMARY KEY, launch_id TEXT, fan_id TEXT, sku TEXT,"
            " quantity INTEGER, unit_price INTEGER, currency TEXT, created_at TEXT,"
            " expires_at TEXT, idempotency_key TEXT, priority_code TEXT, state TEXT,"
            " closed_at TEXT)"
        )
        self._left = units
        self._ids = itertools.count()
        self._answers: dict[tuple[str, str], bytes] = {}
        self._pending: list[tuple[tuple[object, ...], asyncio.Future[None]]] = []

    async def decide(self, fan: str, key: str, body: bytes) -> tuple[int, bytes]:
        sku = orjson.loads(body)["sku"]
        first = self._answers.get((fan, key))
        if first is not None:
            return 200, first
        if self._left <= 0:
            return 409, SOLD_OUT
        self._left -= 1
        claim_id = f"clm_{next(self._ids):016x}"  # ordered, as soldout's ids: rows append
        now = datetime.now(UTC)
        answer = orjson.dumps({"id": claim_id, "sku": sku, "quantity": 1, "state": "held"})
        self._answers[fan, key] = answer
        row = (claim_id, "lch_1", fan, sku, 1, 100, "EUR", now.isoformat(),
               (now + timedelta(hours=1)).isoformat(), key, None, "held", None)  # fmt: skip
        loop = asyncio.get_running_loop()
        written = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((row, written))
        await written
        return 201, answer

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute(
            "INSERT INTO claims VALUES " + ", ".join([ROW] * len(batch)),
            [value for row, _ in batch for value in row],
        )
        self._db.execute("COMMIT")
        for _, written in batch:
            written.set_result(None)

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        headers = scope.headers
        status, answer = await self.decide(
            headers.get("authorization"), headers.get("idempotency-key"), await protocol()
        )
        protocol.response_bytes(status, [JSON], answer)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        found = dict(scope["headers"])
        status, answer = await self.decide(
            found[b"authorization"].decode(),
            found[b"idempotency-key"].decode(),
            (await receive())["body"],
        )
        length = str(len(answer)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", length)],
            }
        )
        await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=["granian", "uvicorn"], required=True)
    parser.add_argument("--mode", choices=["durable", "sold_out"], required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soldout-skeleton-") as folder:
        skeleton = Skeleton(Path(folder) / "claims.db", 10**9 if args.mode == "durable" else 0)
        gc.collect()  # as soldout's server does once started
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        if args.server == "granian":
            import uvloop

            from hello import serve_rsgi  # (run as a script: benchmarks/ is on the path)

            uvloop.run(serve_rsgi(skeleton, args.port))
        else:
            serve_asgi(skeleton, "127.0.0.1", args.port, "uvicorn")
