"""Runs the ASGI app under uvicorn (uvloop + httptools): see docs/server-choice.md."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import click
import uvicorn

from soldout.api.app import build_app
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.settings import Settings, load_secrets
from soldout.store.sqlite import SqliteStore

__all__ = ["make_platform", "run"]


def make_platform(settings: Settings) -> tuple[Platform, str, bool]:
    try:
        database = settings.database
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    secret, admin, generated = load_secrets(settings)
    return Platform(SqliteStore(database), TokenSigner(secret, admin)), admin, generated


def run(settings: Settings, on_start: Callable[[Platform], Awaitable[None]] | None = None) -> None:
    platform, admin, generated = make_platform(settings)
    base = f"http://{settings.host}:{settings.port}"

    async def started(p: Platform) -> None:
        if on_start is not None:
            await on_start(p)
        click.echo(f"soldout serving on {base}  (data: {settings.data})")
        click.echo(f"  API docs:  {base}/docs")
        click.echo(f"  launches:  {base}/api/v1/launches")
        if generated:
            click.echo(f"  admin token (generated, kept in {settings.data}/admin.token): {admin}")
        else:
            click.echo("  admin token: from SOLDOUT_ADMIN_TOKEN or the data directory")
        sys.stdout.flush()

    app = build_app(platform, max_body=settings.max_body_bytes, on_start=started)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
