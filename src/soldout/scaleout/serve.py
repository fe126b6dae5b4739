"""`soldout serve --redis URL`: the owner and the workers, as processes.

    soldout serve --store postgresql://... --redis redis://HOST:PORT --workers 2

starts, under one supervisor (`supervisor.Supervisor`, which starts again any process
that dies): the owner (`--role owner`) on a loopback port of its own, and N workers
(`--role worker`) sharing the public address (SO_REUSEPORT: the kernel spreads the
connections). On several machines, run `--role worker` on each and one `--role owner`
(with `--advertise` the address workers reach it at); any load balancer goes in front
of the workers.

Redis URLs: `redis://HOST:PORT[/DB]` for one server, `redis+cluster://HOST:PORT[,HOST:PORT...]`
for a Redis Cluster (any of its nodes; the rest are found).

A second `--role owner` on the same store waits as a standby (`stand_by`) and takes over
the moment the first one's lock goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import click
from redis import Redis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.cluster import ClusterNode as AsyncNode
from redis.asyncio.cluster import RedisCluster as AsyncCluster
from redis.cluster import ClusterNode, RedisCluster

from soldout.datadir import Unusable
from soldout.engine.allocator import Allocator
from soldout.engine.book import LaunchBook
from soldout.scaleout.claims import ScaleOutClaims
from soldout.scaleout.duplicates import DuplicateSets
from soldout.scaleout.mirror import MirrorAllocator, SyncClient
from soldout.scaleout.owner import OwnerSync, fence
from soldout.scaleout.redis_allocator import Client
from soldout.scaleout.room_journal import RedisRoomJournal
from soldout.scaleout.supervisor import Child, Supervisor
from soldout.scaleout.worker_metrics import WorkerClaims
from soldout.services import Platform
from soldout.settings import Settings
from soldout.store.postgresql import PostgresStore
from soldout.store.postgresql import check_database as check_postgres
from soldout.store.sqlite import StoreInUse

__all__ = ["Owner", "async_client", "run_owner", "run_supervised", "run_worker", "sync_client"]

CLUSTER = "redis+cluster://"
STANDBY_POLL = 1.0  # seconds between a standby owner's looks at the store's lock
# a Redis that stops answering (a network cut) fails a call after this, never hangs it
TIMEOUTS: dict[str, Any] = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}
CONNECTIONS = 64  # a worker's Redis connections at most (claims wait for one beyond)


def _nodes(url: str) -> list[tuple[str, int]]:
    nodes = []
    for part in url.removeprefix(CLUSTER).split("/")[0].split(","):
        host, _, port = part.rpartition(":")
        nodes.append((host or "127.0.0.1", int(port or 6379)))
    return nodes


def async_client(url: str, fenced: str | None = None) -> Client:
    """`fenced`: a worker's client (with the keys' prefix): it connects only to a server
    whose counts the owner built (`owner.fence`; on a single server, not a Cluster)."""
    if url.startswith(CLUSTER):
        nodes = [AsyncNode(h, p) for h, p in _nodes(url)]
        return AsyncCluster(startup_nodes=nodes, max_connections=CONNECTIONS, **TIMEOUTS)
    extra: dict[str, Any] = {} if fenced is None else {"redis_connect_func": fence(fenced)}
    pool = BlockingConnectionPool.from_url(
        url, max_connections=CONNECTIONS, timeout=5, **TIMEOUTS, **extra
    )
    return AsyncRedis(connection_pool=pool)


def sync_client(url: str) -> SyncClient:
    if url.startswith(CLUSTER):
        nodes = [ClusterNode(h, p) for h, p in _nodes(url)]  # type: ignore[no-untyped-call]
        return RedisCluster(startup_nodes=nodes, **TIMEOUTS)
    return Redis.from_url(url, **TIMEOUTS)


class Owner:
    """The owner's part in `api.server.run` (its `ScaledOut`)."""

    def __init__(self, redis_url: str, prefix: str, advertise: str, pending_seconds: float) -> None:
        self._pending = pending_seconds
        self._sync = sync_client(redis_url)
        self._client = async_client(redis_url)
        self._fenced = async_client(redis_url, fenced=prefix)  # its own claims, as a worker's
        self._prefix = prefix
        self._advertise = advertise
        self._mirror: MirrorAllocator | None = None
        self.sync: OwnerSync | None = None
        self._claims: ScaleOutClaims | None = None
        self._listening: asyncio.Task[None] | None = None
        self._journal: RedisRoomJournal | None = None

    def allocator(self, books: Mapping[str, LaunchBook]) -> Allocator:
        self._mirror = MirrorAllocator(books, self._sync, prefix=self._prefix)
        return self._mirror

    def claims(self, platform: Platform) -> ScaleOutClaims:
        store = platform.store
        if not isinstance(store, PostgresStore) or self._mirror is None:
            raise click.UsageError("--redis needs a PostgreSQL store (--store postgresql://...)")
        self._journal = RedisRoomJournal(self._client, self._sync, self._prefix)
        platform.gate.room_journal = self._journal
        duplicates = DuplicateSets(platform.gate, self._sync, self._prefix)
        platform.fans.on_register(duplicates.joined)  # (after the gate's own listeners)
        platform.fans.on_contact(duplicates.moved)
        self.sync = OwnerSync(
            platform.engine,
            self._mirror,
            self._client,
            store,
            prefix=self._prefix,
            address=self._advertise,
            duplicates=duplicates,
        )
        self._claims = ScaleOutClaims(
            self._fenced,
            store,
            platform.clock,
            prefix=self._prefix,
            pending_seconds=self._pending,
            confirmed=self.sync.adopt,
            book_of=platform.engine.public_book,
            give_back=platform.gate.give_back,
        )
        return self._claims

    async def start(self, platform: Platform) -> None:
        assert self.sync is not None
        assert self._claims is not None
        await self.sync.start()
        self._listening = asyncio.get_running_loop().create_task(self._claims.listen())
        workers = WorkerClaims(self._client, self._prefix)  # the workers' claims, in /metrics
        platform.metrics.refreshers.append(workers.refresh)
        platform.metrics.registry.register(workers)

    async def catch_up(self) -> None:
        """Before a request is served here: every claim a worker confirmed until now is
        adopted, so what a fan or the maker reads after a 201 counts it."""
        if self.sync is not None:
            await self.sync.catch_up()

    async def stop(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
        if self.sync is not None:
            await self.sync.stop()
        if self._journal is not None:
            await self._journal.drain()
        await self._client.aclose()
        await self._fenced.aclose()
        self._sync.close()


def run_owner(
    settings: Settings,
    redis_url: str,
    prefix: str,
    advertise: str | None,
    *,
    on_start: Callable[[Platform], Awaitable[None]] | None = None,
) -> None:
    from soldout.api.server import run

    if settings.postgres_url is not None:
        stand_by(settings.postgres_url)
    address = advertise or f"http://{settings.host}:{settings.port}"
    owner = Owner(redis_url, prefix, address, settings.pending_seconds)
    run(settings, on_start, scaled=owner)


def stand_by(store_url: str) -> None:
    """An owner started while another owns the store waits as its standby: it checks the
    store's advisory lock every `STANDBY_POLL` seconds and starts the moment the lock is
    free (the other owner stopped, died, or lost its database session), then serves as
    any owner does: it loads the record, rebuilds what Redis misses, adopts the workers'
    claims and writes its address where the workers read it. Should two standbys start
    at once, the one that loses the lock exits, to be started again as a standby."""
    announced = False
    while True:
        try:
            check_postgres(store_url, migrate=False)  # (the start migrates, once)
            return
        except StoreInUse as exc:
            if not announced:
                click.echo(f"standby: {exc}; taking over when it goes", err=True)
                announced = True
        except Unusable as exc:  # the database out of reach a moment: keep standing by
            click.echo(f"standby: {exc}; trying again", err=True)
        time.sleep(STANDBY_POLL)  # the lock's holder is another process


def run_worker(settings: Settings, redis_url: str, prefix: str) -> None:
    from soldout.api.proxies import TrustedProxies
    from soldout.api.server import serve_asgi
    from soldout.logs import configure
    from soldout.scaleout.worker import WorkerApp, WorkerSettings
    from soldout.services.gate import GateSettings

    configure(settings.log_level, settings.log_format)
    url = settings.postgres_url
    if url is None:
        raise click.UsageError("a worker needs a PostgreSQL store (--store postgresql://...)")
    app: Any = WorkerApp(
        WorkerSettings(
            url,
            lambda: async_client(redis_url, fenced=prefix),
            prefix=prefix,
            gate=GateSettings(
                settings.rate_limit_fan,
                settings.rate_limit_fan_burst,
                settings.rate_limit_address,
                settings.rate_limit_address_burst,
            ),
            max_body=settings.max_body_bytes,
            proxies=TrustedProxies.parse(settings.trusted_proxies),
            pending_seconds=settings.pending_seconds,
        )
    )
    where = f"http://{settings.host}:{settings.port}"
    click.echo(f"soldout serving on {where}  (worker {os.getpid()}, server: {settings.server})")
    sys.stdout.flush()
    # a spool of its own (several workers share a data directory), gone with the worker
    with tempfile.TemporaryDirectory(prefix="soldout-worker-spool-") as spool:
        serve_asgi(
            app.front,
            settings.host,
            settings.port,
            settings.server,
            settings.log_level,
            native=True,
            spool=Path(spool) / "spool",
            log_format=settings.log_format,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_supervised(
    settings: Settings, argv: list[str], workers: int, secret: dict[str, str]
) -> int:
    """The owner on a loopback port (`owner_port`, else a free one) and `workers` workers on
    the public address, each a child process started again when it dies. `argv`: the
    serve command's own options to pass on (data, server, payments); `secret`: settings
    passed in the children's environment, never on their command lines (the Redis and
    store URLs)."""
    from soldout.api.server import _check_port_free

    if settings.server != "granian":  # uvicorn cannot share a port between processes
        raise click.UsageError("--workers needs --server granian (the default)")
    _check_port_free(settings.host, settings.port)
    if settings.owner_port:
        if settings.owner_port == settings.port:
            raise click.UsageError("--owner-port must differ from --port")
        _check_port_free("127.0.0.1", settings.owner_port)
    serve = [sys.executable, "-m", "soldout", "serve", *argv]
    owner, worker = [*serve, "--role", "owner"], [*serve, "--role", "worker"]
    return supervise(settings, owner, worker, workers, {**os.environ, **secret})


def supervise(
    settings: Settings,
    owner: list[str],
    worker: list[str],
    workers: int,
    env: dict[str, str] | None = None,
) -> int:
    """Runs `owner` (given `--host 127.0.0.1 --port` the `owner_port`, else a free port) and
    `workers` times `worker` (given the public host and port) under a `Supervisor`, until
    stopped."""
    from soldout.logs import configure

    configure(settings.log_level, settings.log_format)  # its own lines (a restart) too
    internal = settings.owner_port or _free_port()
    env = dict(env or os.environ)
    env.setdefault("SOLDOUT_PUBLIC_URL", settings.base_url)
    env.setdefault("SOLDOUT_TRUSTED_PROXIES", "127.0.0.1")
    public = ["--host", settings.host, "--port", str(settings.port)]
    children = [Child("owner", [*owner, "--host", "127.0.0.1", "--port", str(internal)], env)]
    children += [Child(f"worker {n}", [*worker, *public], env) for n in range(1, workers + 1)]
    click.echo(
        f"soldout: {workers} workers on {settings.base_url}, the owner on 127.0.0.1:{internal}"
    )
    sys.stdout.flush()
    return Supervisor(children).run()
