"""Runs an ASGI app in this process, under Granian (default) or uvicorn.

Both run one event loop (uvloop) in this process: the sale engine's counters live in it,
so there is exactly one worker. Why Granian is the default is measured by
`benchmarks/claims_wrk.py` and written down in docs/server-choice.md.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import click
import uvloop

from soldout.api.app import build_app
from soldout.api.hotpath import Front
from soldout.api.rsgi import Lifespan, LifespanFailed, RsgiFront
from soldout.mail import MailSettings
from soldout.payments.configured import configured_provider
from soldout.services import Platform
from soldout.services.gate import GateSettings
from soldout.services.tokens import TokenSigner
from soldout.settings import Settings, load_admin_token
from soldout.store.sqlite import SqliteStore, StoreInUse
from soldout.store.sqlite.store import check_not_in_use

__all__ = ["ServerName", "make_platform", "run", "serve_asgi"]

ServerName = Literal["granian", "uvicorn"]
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
) -> None:
    """Serve `app` until SIGINT or SIGTERM. The benchmark's baseline uses this same call.

    `native`: `app` is soldout's `Front`, which Granian then serves over its native
    interface (RSGI, see `soldout.api.rsgi`), keeping streamed answers in `spool` until
    they are sent; uvicorn serves it over ASGI either way."""
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            app,
            host=host,
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level=log_level,
            lifespan="on",
            backlog=2048,
            timeout_graceful_shutdown=5,
        )
        return
    uvloop.run(_granian(app, host, port, log_level, native, spool))


async def _granian(
    app: ASGIApp, host: str, port: int, log_level: str, native: bool, spool: Path | None
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
            await _serve_until(stop, target, host, port, log_level, native)
    finally:
        if lifespan is not None:
            await lifespan.shutdown()


async def _serve_until(
    stop: asyncio.Event, target: Any, host: str, port: int, log_level: str, native: bool
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


def make_platform(settings: Settings) -> tuple[Platform, str, bool]:
    try:
        database = settings.database
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        check_not_in_use(database)
    except StoreInUse as exc:
        raise click.ClickException(str(exc)) from exc
    admin, generated = load_admin_token(settings)
    try:
        mail = MailSettings.from_settings(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        payments, payment_setup = configured_provider(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    platform = Platform(
        SqliteStore(database),
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
    )
    return platform, admin, generated


def run(settings: Settings, on_start: Callable[[Platform], Awaitable[None]] | None = None) -> None:
    _check_port_free(settings.host, settings.port)
    platform, admin, generated = make_platform(settings)
    base = f"http://{settings.host}:{settings.port}"

    async def started(p: Platform) -> None:
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
        else:
            click.echo("  admin token: from SOLDOUT_ADMIN_TOKEN or the data directory")
        sys.stdout.flush()

    # Each claim allocates a few objects that live on; the default threshold (700) makes the
    # collector run every few requests and walk a growing heap. Claims hold no cycles.
    gc.set_threshold(50_000, 20, 100)
    app: Any = build_app(platform, max_body=settings.max_body_bytes, on_start=started)
    serve_asgi(
        app,
        settings.host,
        settings.port,
        settings.server,
        settings.log_level,
        native=True,
        spool=settings.data / "spool",
    )
