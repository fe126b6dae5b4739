"""A scaled-out soldout for tests: a private Redis, a fresh PostgreSQL database, the owner
and N workers, each a real `soldout serve` process on a loopback port of its own (so a
test can send to, or kill, one worker in particular).

Redis is always a private server (tests kill and restart it); PostgreSQL is the
session's (`tests/postgres.py`: `SOLDOUT_TEST_POSTGRES_URL`'s server, or a private one),
in a database made for the test and dropped after it. A plugin as well (its `cluster`
fixture: `pytest_plugins = ["tests.scaleout"]`) that test modules import from:
PYTEST_DONT_REWRITE.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from tests.redis_server import PrivateRedisCluster, RedisServer
from tests.support import ADMIN_TOKEN, ServerProcess, eventually, register

PENDING_SECONDS = 2.0  # a taken claim's deadline for its row, in these tests
BEAT = 1.0  # the owner's rounds (soldout.scaleout.owner.BEAT)


@dataclass
class ScaleOut:
    redis: RedisServer  # (the first node, on a Cluster)
    store_url: str
    owner: ServerProcess
    workers: list[ServerProcess]
    cluster: PrivateRedisCluster | None = None
    env: dict[str, str] | None = None  # every process's environment (another owner's too)

    def admin(self, worker: int = 0) -> httpx.Client:
        """The admin's API through a worker (forwarded to the owner)."""
        return self.workers[worker].client(ADMIN_TOKEN)

    def any_worker(self) -> ServerProcess:
        return random.choice([w for w in self.workers if w.process and w.process.poll() is None])

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.store_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()

    def redis_client(self) -> Any:
        if self.cluster is not None:
            nodes = [ClusterNode("127.0.0.1", port) for port in self.cluster.ports]
            return RedisCluster(startup_nodes=nodes, socket_timeout=5)
        return redis.Redis(host="127.0.0.1", port=self.redis.port, socket_timeout=5)

    def stock(self, launch_id: str) -> dict[str, int]:
        """The launch's counts in Redis (`b:A`, `h:A`, `p:A`, `s:A`)."""
        with self.redis_client() as client:
            raw = client.hgetall(f"soldout:{{{launch_id}}}:stock")
        return {k.decode(): int(v) for k, v in raw.items()}

    def wait_ready(self, timeout: float = 30) -> None:
        """Every worker can sell and knows the owner."""
        for worker in self.workers:
            with worker.client() as client:
                eventually(
                    lambda c=client: c.get("/healthz/worker").status_code,  # type: ignore[misc]
                    lambda status: status == 200,
                    timeout,
                )


@contextlib.contextmanager
def scale_out(
    tmp_path: Path,
    postgres: Any,
    *,
    workers: int = 2,
    env: dict[str, str] | None = None,
    cluster: bool = False,
) -> Iterator[ScaleOut]:
    """`postgres`: the `postgres_server` fixture's target. `cluster`: a private
    three-node Redis Cluster instead of one Redis server."""
    with contextlib.ExitStack() as stack:
        nodes = stack.enter_context(PrivateRedisCluster()) if cluster else None
        server = nodes.nodes[0] if nodes is not None else stack.enter_context(RedisServer())
        redis_url = (
            "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in nodes.ports)
            if nodes is not None
            else server.url
        )
        url = stack.enter_context(postgres.database())
        common = {
            "SOLDOUT_STORE": url,
            "SOLDOUT_REDIS": redis_url,
            "SOLDOUT_PENDING_SECONDS": str(PENDING_SECONDS),
            "SOLDOUT_RATE_LIMIT_FAN": "0",
            "SOLDOUT_TRUSTED_PROXIES": "127.0.0.1",
            **(env or {}),
        }
        owner = ServerProcess(tmp_path / "owner", env=common, args=["--role", "owner"])
        owner.start(timeout=60)
        stack.callback(owner.stop)
        started = []
        for n in range(workers):
            worker = ServerProcess(tmp_path / f"worker{n}", env=common, args=["--role", "worker"])
            worker.start(timeout=60)
            stack.callback(worker.stop)
            started.append(worker)
        made = ScaleOut(server, url, owner, started, nodes, common)
        made.wait_ready()
        yield made


@pytest.fixture
def cluster(tmp_path: Path, postgres_server: Any) -> Iterator[ScaleOut]:
    """The owner and two workers on a private Redis and a fresh database."""
    with scale_out(tmp_path, postgres_server) as made:
        yield made


def fans(cluster: ScaleOut, count: int) -> list[dict[str, Any]]:
    with cluster.workers[0].client() as client:
        return [register(client, f"f{uuid.uuid4().hex[:10]}") for _ in range(count)]


def held_rows(cluster: ScaleOut, launch_id: str) -> dict[str, tuple[str, int, str]]:
    """The launch's claims on record: id -> (fan, quantity, state)."""
    rows = cluster.rows(
        "SELECT id, fan_id, quantity, state FROM claims WHERE launch_id = %s", launch_id
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}
