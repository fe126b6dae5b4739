"""Runs an ASGI app in this process, under Granian (default) or uvicorn.

Both run one event loop (uvloop) in this process: the sale engine's counters live in it,
so there is exactly one worker. Why Granian is the default is measured by
`benchmarks/claims_wrk.py` and written down in docs/server-choice.md.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import click
import uvloop

from soldout.api.app import build_app
from soldout.api.claim_core import ClaimDesk
from soldout.api.hotpath import Front
from soldout.api.lifespan import Lifespan, LifespanFailed
from soldout.api.proxies import TrustedProxies
from soldout.api.rsgi import RsgiFront
from soldout.datadir import DiskWatch, Unusable, explain, prepare_data_dir
from soldout.engine.allocator import Allocator
from soldout.engine.book import LaunchBook
from soldout.engine.book_allocator import BookAllocator
from soldout.engine.pending_payments import CheckSchedule
from soldout.logs import LogFormat, configure
from soldout.mail import MailSettings
from soldout.payments.configured import configured_provider
from soldout.services import Platform
from soldout.services.gate import GateSettings
from soldout.services.throttle import ThrottleSettings
from soldout.services.tokens import TokenSigner
from soldout.settings import Settings, load_admin_token
from soldout.store.postgresql import PostgresStore
from soldout.store.postgresql import check_database as check_postgres
from soldout.store.sqlite import SqliteStore, StoreInUse
from soldout.store.sqlite.store import check_database, check_not_in_use

__all__ = ["ServerName", "make_platform", "run", "serve_asgi"]

ServerName = Literal["granian", "uvicorn"]
AllocatorFactory = Callable[[Mapping[str, LaunchBook]], Allocator]


class ScaledOut(Protocol):
    """What the owner of a scaled-out deployment changes in `run` (`scaleout.serve`)."""

    def allocator(self, books: Mapping[str, LaunchBook]) -> Allocator: ...

    def claims(self, platform: Platform) -> ClaimDesk: ...

    async def start(self, platform: Platform) -> None: ...

    async def stop(self) -> None: ...

    async def catch_up(self) -> None: ...


ASGIApp = Callable[..., Awaitable[None]]


def serve_asgi(
    app: ASGIApp,
    host: str,
    port: int,
    server: ServerName,
    log_level: str = "warning",
    *,
    native: bool = False,
    spool: Path | None = None,
    log_format: LogFormat = "text",
) -> None:
    """Serve `app` until SIGINT or SIGTERM. The benchmark's baseline uses this same call.

    `native`: `app` is soldout's `Front`, which Granian then serves over its native
    interface (RSGI, see `soldout.api.rsgi`), keeping streamed answers in `spool` until
    they are sent; uvicorn serves it over ASGI either way. `log_format` json: the servers'
    own lines go through the root logger (`soldout.logs`) instead of their own handlers."""
    if server == "uvicorn":
        import uvicorn
        from uvicorn.config import LOGGING_CONFIG

        uvicorn.run(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level=log_level,
            log_config=None if log_format == "json" else LOGGING_CONFIG,
            lifespan="on",
            backlog=2048,
            timeout_graceful_shutdown=5,
            # X-Forwarded-* are believed only from SOLDOUT_TRUSTED_PROXIES (`api.proxies`),
            # never from uvicorn's default of 127.0.0.1
            proxy_headers=False,
        )
        return
    uvloop.run(_granian(app, host, port, log_level, native, spool, log_format))


async def _granian(
    app: ASGIApp,
    host: str,
    port: int,
    log_level: str,
    native: bool,
    spool: Path | None,
    log_format: LogFormat = "text",
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Before start-up: a stop asked for during it (a long migration) waits for its end.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lifespan: Lifespan | None = None
    target: Any = app
    if native:
        assert isinstance(app, Front)
        lifespan = Lifespan(app)
        try:
            await lifespan.startup()
        except LifespanFailed as failure:
            logging.getLogger("soldout").error("start-up failed:\n%s", failure)
            raise SystemExit(3) from None
        assert spool is not None, "serving natively needs a spool directory"
        target = RsgiFront(app, lifespan.state, spool)
    try:
        if not stop.is_set():
            await _serve_until(stop, target, host, port, log_level, native, log_format)
    finally:
        if lifespan is not None:
            await lifespan.shutdown()


async def _serve_until(
    stop: asyncio.Event,
    target: Any,
    host: str,
    port: int,
    log_level: str,
    native: bool,
    log_format: LogFormat = "text",
) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    server = Server(
        target,
        address=host,
        port=port,
        interface=Interfaces.RSGI if native else Interfaces.ASGI,
        http=HTTPModes.http1,
        log_level=LogLevels(log_level),
        # json: Granian's lines go to the root logger's handler, one JSON object each
        log_dictconfig=_GRANIAN_TO_ROOT if log_format == "json" else None,
        log_access=False,
        backlog=2048,
        websockets=False,
    )
    # Granian calls its in-process mode experimental at every start; the choice and its
    # risk are written down in docs/server-choice.md, so the notice is not repeated.
    logging.getLogger("_granian").addFilter(
        lambda record: "experimental" not in record.getMessage()
    )
    loop = asyncio.get_running_loop()
    serving = loop.create_task(server.serve())
    stopping = loop.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if isinstance(target, RsgiFront):
        target.close()  # open live dashboards end now; other answers in progress finish
    # A stop asked for while Granian is still starting can be forgotten when it starts:
    # ask again until it has stopped.
    while not serving.done():
        server.stop()  # type: ignore[no-untyped-call]
        await asyncio.wait({serving}, timeout=0.5)
    stopping.cancel()
    await serving


_GRANIAN_TO_ROOT: dict[str, Any] = {"loggers": {"_granian": {"handlers": [], "propagate": True}}}


def _check_port_free(host: str, port: int) -> None:
    """Granian listens with SO_REUSEPORT, which would let a second server share the port
    silently; refuse instead, whatever the server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def _prepare_data(settings: Settings, database: Path) -> tuple[str, bool]:
    """What is on disk, checked before anything is served, each problem in one line and
    no traceback (docs/operations.md): the data directory private, writable and with room,
    no other server on the store, the database whole and migrated, the admin token.
    Returns the admin token and whether it was made now."""
    try:
        low = settings.low_disk_mb << 20
        for warning in prepare_data_dir(
            settings.data, database, settings.payments_ledger, low_bytes=low
        ):
            logging.getLogger("soldout.datadir").warning("%s", warning)
        if settings.postgres_url is not None:
            check_postgres(settings.postgres_url)  # reachable, migrated, no other owner
        else:
            check_not_in_use(database)
            check_database(database)
        try:
            return load_admin_token(settings)
        except OSError as error:
            raise explain(error, settings.data / "admin.token") from None
        except ValueError as error:  # shorter than 32 characters: one line, no traceback
            raise click.ClickException(str(error)) from None
    except (StoreInUse, Unusable) as exc:
        raise click.ClickException(str(exc)) from None


def make_platform(
    settings: Settings, allocator: AllocatorFactory = BookAllocator
) -> tuple[Platform, str, bool]:
    try:
        database = settings.database
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    admin, generated = _prepare_data(settings, database)
    try:
        mail = MailSettings.from_settings(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        payments, payment_setup = configured_provider(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except (OSError, sqlite3.Error) as exc:  # the test provider's ledger
        raise click.ClickException(str(explain(exc, settings.payments_ledger))) from None
    url = settings.postgres_url
    platform = Platform(
        PostgresStore(url) if url is not None else SqliteStore(database),
        TokenSigner(None, admin),
        payments=payments,
        payment_timeout=settings.payment_timeout,
        gate=GateSettings(
            settings.rate_limit_fan,
            settings.rate_limit_fan_burst,
            settings.rate_limit_address,
            settings.rate_limit_address_burst,
        ),
        public_url=settings.base_url,  # links never come from a request's Host header
        mail=mail,
        payment_setup=payment_setup,
        payment_checks=CheckSchedule(settings.payment_check_every, settings.payment_check_after),
        throttle=ThrottleSettings(signups_per_address=settings.signup_limit),
        allocator=allocator,
    )
    return platform, admin, generated


def run(
    settings: Settings,
    on_start: Callable[[Platform], Awaitable[None]] | None = None,
    *,
    scaled: ScaledOut | None = None,
) -> None:
    """Serve the platform. `scaled`: the owner of a deployment with several workers
    (`scaleout.serve`), whose engine's allocator, claims and start and stop it gives."""
    configure(settings.log_level, settings.log_format)
    _check_port_free(settings.host, settings.port)
    try:
        proxies = TrustedProxies.parse(settings.trusted_proxies)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if scaled is not None:
        platform, admin, generated = make_platform(settings, scaled.allocator)
    else:
        platform, admin, generated = make_platform(settings)
    base = f"http://{settings.host}:{settings.port}"

    async def started(p: Platform) -> None:
        if scaled is not None:
            await scaled.start(p)
        if on_start is not None:
            await on_start(p)
        gc.collect()
        gc.freeze()  # what start-up loaded (every claim, for replays) is never garbage
        click.echo(f"soldout serving on {base}  (data: {settings.data}, server: {settings.server})")
        click.echo(f"  API docs:  {base}/docs")
        click.echo(f"  launches:  {base}/api/v1/launches")
        if p.outbox is not None:
            click.echo(f"  e-mail:    {p.outbox.transport.description}")
            if settings.smtp_url and not settings.public_url:
                click.echo(
                    f"  WARNING: e-mails link to {settings.base_url} and are sent from that"
                    " host's name: set SOLDOUT_PUBLIC_URL to the address fans reach the shop at",
                    err=True,
                )
        if generated:
            click.echo(f"  admin token (generated, kept in {settings.data}/admin.token): {admin}")
        elif settings.admin_token:
            click.echo("  admin token: the one in SOLDOUT_ADMIN_TOKEN")
        else:
            click.echo(f"  admin token: kept in {settings.data / 'admin.token'} (cat it)")
        sys.stdout.flush()

    # Each claim allocates a few objects that live on; the default threshold (700) makes the
    # collector run every few requests and walk a growing heap. Claims hold no cycles.
    gc.set_threshold(50_000, 20, 100)
    # Whatever else this process writes (in the data directory or beside the database) is
    # private too, as the files made on purpose are (soldout.datadir).
    os.umask(0o077)
    watched = (settings.data,) if settings.postgres_url else (settings.data, settings.database)
    disk = DiskWatch(watched, settings.low_disk_mb << 20)
    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    app: Any = build_app(
        platform,
        max_body=settings.max_body_bytes,
        on_start=started,
        disk=disk,
        proxies=proxies,
        metrics_token=metrics_token,
        claim_desk=scaled.claims(platform) if scaled is not None else None,
        on_stop=scaled.stop if scaled is not None else None,
        before=scaled.catch_up if scaled is not None else None,
    )
    serve_asgi(
        app,
        settings.host,
        settings.port,
        settings.server,
        settings.log_level,
        native=True,
        spool=settings.data / "spool",
        log_format=settings.log_format,
    )
