"""The servers of the scale-out benchmark (`benchmarks/scaleout.py`): one `soldout serve`,
the embedded single process or the supervisor of the owner and its workers, the private
PostgreSQL and Redis it runs on, the CPU each process spent (/proc), and what the servers
count themselves (Redis INFO, PostgreSQL WAL and pg_stat_statements).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from benchmarks.claims_wrk import ADMIN, Result, free_port, wait_for_port, wrk
from soldout.scaleout.local import SETTINGS, LocalPostgres
from soldout.scaleout.local_redis import LocalRedis

TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
PG_SETTINGS = {**SETTINGS, "shared_preload_libraries": "'pg_stat_statements'"}
BASE_ENV = {
    "SOLDOUT_ADMIN_TOKEN": ADMIN,
    # wrk replays a few fans from one address: rate limits would measure themselves
    "SOLDOUT_RATE_LIMIT_FAN": "0",
    "SOLDOUT_RATE_LIMIT_ADDRESS": "0",
    "SOLDOUT_SIGNUP_LIMIT": "0",
    "SOLDOUT_LOG_LEVEL": "warning",
}


# --- processes and their CPU ------------------------------------------------------------


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn: the child gets SIGTERM if this process dies (even by SIGKILL)."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def in_child() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)

    return in_child


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command's name (state first), or None."""
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return line[line.rindex(")") + 2 :].split()


def _children_of() -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            found[int(fields[1])].append(int(entry.name))
    return found


def tree_cpu(pid: int, children: dict[int, list[int]] | None = None) -> float:
    """CPU seconds (user+system) of `pid` and every process under it, those that ran and
    were reaped included (their parents' cutime+cstime)."""
    children = _children_of() if children is None else children
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        fields = _stat(p)
        if fields is not None:
            total += sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime
        todo += children.get(p, [])
    return total


def machine_busy() -> float:
    """CPU seconds this machine has spent not idle, all cores together."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK  # less idle and iowait


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds of this process itself (the driver)."""
    times = os.times()
    return times.user + times.system


def wait_quiet(server: Soldout, limit: float = 0.3, patience: float = 15) -> float:
    """Until processes that are not this benchmark's use less than `limit` cores (a test
    suite running beside it would be measured too), `patience` seconds at most. Returns
    the cores they used in the last second looked at."""
    deadline = time.monotonic() + patience
    while True:
        mine0, busy0, at0 = sum(server.cpu().values()) + own_cpu(), machine_busy(), time.monotonic()
        time.sleep(1.0)  # one second of the machine's counters
        mine, busy = sum(server.cpu().values()) + own_cpu(), machine_busy()
        other = max(0.0, (busy - busy0) - (mine - mine0)) / (time.monotonic() - at0)
        if other < limit or time.monotonic() > deadline:
            if other >= limit:
                print(f"({server.name}: other processes use {other:.2f} cores: measuring anyway)")
            return other


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def timed_wrk(
    port: int, path: str, connections: int, seconds: float, tokens: Path
) -> tuple[Result, float]:
    """claims_wrk's wrk run, and the CPU seconds wrk itself used."""
    threads = 1 if connections <= 64 else 2
    before = children_cpu()
    result = wrk(port, path, connections, threads, seconds, tokens)
    return result, children_cpu() - before


# --- the servers --------------------------------------------------------------------------


class Store:
    """Reads of soldout's store: the embedded SQLite file, or a PostgreSQL database."""

    def __init__(self, sqlite_path: Path | None = None, url: str | None = None) -> None:
        self.sqlite_path, self.url = sqlite_path, url

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.url is not None:
            with psycopg.connect(self.url, autocommit=True) as conn:
                if not params:  # (then a % in the query is only a %)
                    return conn.execute(query).fetchall()  # type: ignore[arg-type]
                return conn.execute(query.replace("?", "%s"), params).fetchall()  # type: ignore[arg-type]
        assert self.sqlite_path is not None
        uri = f"file:{self.sqlite_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            return conn.execute(query, params).fetchall()

    def secret(self) -> bytes:
        deadline = time.monotonic() + 30
        while True:  # written when the platform starts: there once the server answers
            found = self.rows("SELECT value FROM secrets WHERE name = ?", "token-signing")
            if found:
                return bytes(found[0][0])
            if time.monotonic() > deadline:
                raise RuntimeError("no token-signing secret in the store")
            time.sleep(0.1)


@dataclass
class Backends:
    """A private PostgreSQL and Redis for the scale-out setups, one each per setup."""

    postgres: LocalPostgres
    redis: LocalRedis
    store_url: str

    def redis_client(self) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.redis.port, socket_timeout=10)


@contextlib.contextmanager
def backends(work: Path, name: str) -> Iterator[Backends]:
    # PostgreSQL runs as `nobody` when we are root: its folder must be reachable (0755)
    root = work / f"pg-{name}"
    with LocalPostgres(root, settings=PG_SETTINGS) as postgres:
        dbname = f"bench_{name}"
        url = postgres.ensure_database(dbname)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        with LocalRedis(work / f"redis-{name}") as server:
            yield Backends(postgres, server, url)


class Soldout:
    """One `soldout serve`: the embedded single process, or the supervisor of the owner and
    `workers` workers (`--redis ... --workers N`)."""

    def __init__(self, work: Path, name: str, back: Backends | None, workers: int = 0) -> None:
        self.name, self.back, self.workers = name, back, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = work / f"data-{name}"
        self.log = work / f"{name}.log"
        args = ["--data", str(self.data), "--port", str(self.port)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOLDOUT_")}
        env.update(BASE_ENV)
        if back is not None:
            args += ["--store", back.store_url, "--redis", back.redis.url]
            args += ["--workers", str(workers)]
            self.store = Store(url=back.store_url)
        else:
            self.store = Store(sqlite_path=self.data / "soldout.db")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "soldout", "serve", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C reaches us, and we stop it
                preexec_fn=_die_with_parent(),
            )
        self.seen: set[int] = set()  # every child pid seen, to make sure none outlives us

    def wait_ready(self, timeout: float = 120) -> None:
        try:
            wait_for_port(self.port, self.process, timeout)
            deadline = time.monotonic() + timeout
            # a connection per request: the kernel gives each to any worker
            fresh = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(
                base_url=self.base, timeout=5, trust_env=False, limits=fresh
            ) as client:
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if self._ready(client):
                            return
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise RuntimeError(f"{self.name} not ready")
                    time.sleep(0.2)  # polling another process's readiness
        except Exception:
            print(f"--- {self.log} ---\n{self.log.read_text(errors='replace')[-4000:]}")
            raise

    def _ready(self, client: httpx.Client) -> bool:
        if client.get("/api/v1/launches").status_code != 200:
            return False
        if self.back is None:
            return True
        roles = self.roles()
        if len(roles["worker"]) != self.workers or len(roles["owner"]) != 1:
            return False
        # every worker answers its own health (each request on a connection of its own)
        return all(
            client.get("/healthz/worker").status_code == 200 for _ in range(8 * self.workers)
        )

    def roles(self) -> dict[str, list[int]]:
        """The pids of the owner and the workers (the supervisor's children)."""
        found: dict[str, list[int]] = {"owner": [], "worker": []}
        if self.back is None:
            return found
        for pid in _children_of().get(self.process.pid, []):
            self.seen.add(pid)
            argv = cmdline(pid)
            if "--role" in argv:
                found.setdefault(argv[argv.index("--role") + 1], []).append(pid)
        return found

    def cpu(self) -> dict[str, float]:
        """CPU seconds by part of soldout (and of its PostgreSQL and Redis)."""
        children = _children_of()
        if self.back is None:
            return {"soldout process": tree_cpu(self.process.pid, children)}
        roles = self.roles()
        parts = {
            "workers": sum(tree_cpu(p, children) for p in roles["worker"]),
            "owner": sum(tree_cpu(p, children) for p in roles["owner"]),
        }
        if self.back.postgres.pid is not None:
            parts["PostgreSQL"] = tree_cpu(self.back.postgres.pid, children)
        with self.back.redis_client() as client:
            info = client.info("cpu")
        parts["Redis"] = float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        return parts

    def problems(self) -> list[str]:
        """The log's lines that say something went wrong (warnings included)."""
        words = ("ERROR", "Traceback", "WARNING", "CRITICAL", "exited", "Exception")
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [line for line in text.splitlines() if any(w in line for w in words)]

    def stop(self) -> None:
        self.roles()
        if self.process.poll() is None:
            self.process.terminate()  # the supervisor stops its children (10 s at most)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.seen:  # they die with the supervisor; any left is killed, by pid
            fields, argv = _stat(pid), cmdline(pid)
            if fields is not None and fields[0] not in "ZX" and "--role" in argv:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def soldout(work: Path, name: str, back: Backends | None, workers: int = 0) -> Iterator[Soldout]:
    server = Soldout(work, name, back, workers)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        problems = server.problems()
        if problems:
            print(f"({name}: {len(problems)} log lines of trouble in its log, the first:)")
            for line in problems[:8]:
                print(f"    {line[:160]}")


# --- counters -----------------------------------------------------------------------------


@dataclass
class Counters:
    """What the servers count, at one moment."""

    cpu: dict[str, float]
    busy: float  # the machine's CPU seconds
    at: float  # time.monotonic()
    redis: dict[str, tuple[int, int]] = field(default_factory=dict)  # command: (calls, usec)
    wal: int = 0  # bytes of WAL written so far


def counters(server: Soldout) -> Counters:
    found = Counters(server.cpu(), machine_busy(), time.monotonic())
    if server.back is not None:
        with server.back.redis_client() as client:
            stats = client.info("commandstats")
        found.redis = {
            k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in stats.items()
        }
        (found.wal,) = server.store.rows("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")[0]
    return found


def pg_statements(server: Soldout, reset: bool) -> list[tuple[Any, ...]]:
    if server.back is None:
        return []
    if reset:
        server.store.rows("SELECT pg_stat_statements_reset()")
        return []
    return server.store.rows(
        "SELECT calls, total_exec_time, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 64)"
        " FROM pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE '%pg_current_wal%'"
        " ORDER BY total_exec_time DESC"
    )
