"""Builds the ASGI application: the hot-path `Front` around the FastAPI app."""

from __future__ import annotations

import contextlib
import importlib.resources
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from soldout import __version__
from soldout.api import (
    routes_admin,
    routes_board,
    routes_board_admin,
    routes_community,
    routes_fans,
    routes_fulfilment,
    routes_me,
    routes_media,
    routes_metrics,
    routes_rehearsals,
)
from soldout.api.claim_core import ClaimCore, ClaimDesk
from soldout.api.claim_request import cookie_value
from soldout.api.errors import domain_error_response, install_handlers
from soldout.api.hotpath import Front, MakerCheck
from soldout.api.json_body import RefuseRepeatedKeys
from soldout.api.pay_core import PayCore
from soldout.api.proxies import TrustedProxies
from soldout.datadir import DiskWatch
from soldout.domain.sessions import SessionKind
from soldout.metrics import HttpMeter
from soldout.services import Platform
from soldout.web import ADMIN_COOKIE, admin_pages, mount_static, storefront
from soldout.web.store_common import not_found

__all__ = ["build_app"]

OnStart = Callable[[Platform], Awaitable[None]]


def build_app(
    platform: Platform,
    *,
    max_body: int = 65536,
    on_start: OnStart | None = None,
    disk: DiskWatch | None = None,
    proxies: TrustedProxies | None = None,
    metrics_token: str | None = None,
    claim_desk: ClaimDesk | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    before: Callable[[], Awaitable[None]] | None = None,
) -> Front:
    """The whole HTTP surface. Starting it (ASGI lifespan) starts the platform. `disk`:
    the store's disk, which `/healthz` reports on. `proxies`: whose `X-Forwarded-For`
    and `X-Forwarded-Proto` are believed (none by default). `metrics_token`: a bearer
    token that opens `/metrics` and nothing else (the admin token opens it too).
    `claim_desk`: who decides claims, if not the engine (`scaleout`); `on_stop` runs
    before the platform stops; `before` is awaited before each request other than a
    claim is served (the owner of several workers catches up with their claims)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await platform.start()
        try:
            if on_start is not None:
                await on_start(platform)
            yield
        finally:
            try:
                if on_stop is not None:
                    await on_stop()
            finally:
                await platform.stop()

    api = FastAPI(
        title="soldout",
        version=__version__,
        summary="Direct-to-fan launches: reserve, claim, pay; never oversold.",
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    api.state.platform = platform
    api.state.metrics_token = metrics_token
    install_handlers(api, not_found=not_found)
    api.add_middleware(RefuseRepeatedKeys, answer=domain_error_response)
    api.include_router(routes_fans.router)
    api.include_router(routes_admin.router)
    api.include_router(routes_fulfilment.router)
    api.include_router(routes_community.router)
    api.include_router(routes_board.router)
    api.include_router(routes_board_admin.router)
    api.include_router(routes_media.router)
    api.include_router(routes_me.router)
    api.include_router(routes_rehearsals.router)
    api.include_router(routes_metrics.router)
    api.include_router(storefront.router)
    for admin in admin_pages.ROUTERS:
        api.include_router(admin)
    mount_static(api)
    _serve_docs(api)

    @api.get("/healthz", tags=["anyone"], responses=_UNHEALTHY)
    async def health(response: Response) -> dict[str, Any]:
        """200 while the store accepts writes, 503 once it has stopped (restart to recover)
        or its files can no longer be written (`not_writable`). `low_disk` (still 200: the
        shop sells, and a restart would free nothing) once the free space on the store's
        disk is under SOLDOUT_LOW_DISK_MB, before a write fails for want of it."""
        store = platform.store.health()
        status = "ok" if store.failed is None else "storage_failed"
        body: dict[str, Any] = {"status": status, "version": __version__}
        if disk is not None:
            state = disk.report()
            if status == "ok" and not state.writable:
                status = "not_writable"
            elif status == "ok" and state.low:
                status = "low_disk"
            body["status"] = status
            body["disk"] = {
                "writable": state.writable,
                "free_bytes": state.free_bytes,
                "low_bytes": disk.low_bytes,
            }
        if status in ("storage_failed", "not_writable"):
            response.status_code = 503
        if store.failed is not None:  # why, and what brings it back (one line each)
            body["error"] = store.failed
            body["recover"] = (
                "restart soldout once its store is reachable and writable again: it"
                " rebuilds its counters from what was committed (no yes is lost)"
            )
        body["group_commit"] = {"transactions": store.transactions, "writes": store.writes}
        return body

    claims = ClaimCore(
        claim_desk or platform.engine,
        platform.tokens,
        platform.gate,
        platform.metrics.claims,
        fan_session=platform.sessions.fan_of,
    )
    api.state.claims = claims  # the FastAPI claim route answers through it too
    served: Any = HttpMeter(api, platform.metrics)
    if before is not None:
        served = _After(before, served)
    # payments are answered in front of the app where this process decides them alone
    pays = PayCore(platform) if claim_desk is None and before is None else None
    # the maker's credentials are checked before an upload's body is read (this process,
    # alone or the scale-out owner, holds the admin sessions; a worker does not)
    maker = _maker_check(platform)
    return Front(served, claims, max_body, proxies=proxies, pay=pays, maker=maker)


def _maker_check(platform: Platform) -> MakerCheck:
    """The admin token, or a live admin session: checked in memory, before a large body
    is read (a forged token or cookie may not make the server read 16 MB to refuse it)."""

    def is_maker(authorization: str | None, cookie: str) -> bool:
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            return scheme.lower() == "bearer" and platform.tokens.is_admin(token.strip())
        raw = cookie_value(cookie, ADMIN_COOKIE) if ADMIN_COOKIE + "=" in cookie else None
        return platform.sessions.find(SessionKind.ADMIN, raw) is not None

    return is_maker


class _After:
    """An ASGI app that awaits `before` ahead of each HTTP request it hands to `app`."""

    def __init__(self, before: Callable[[], Awaitable[None]], app: Any) -> None:
        self._before = before
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._before()
        await self._app(scope, receive, send)


_UNHEALTHY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "`status` `storage_failed` or `not_writable`: the same body as 200",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _serve_docs(api: FastAPI) -> None:
    """Interactive docs from Swagger UI files shipped in a Python package: no CDN, and
    relative URLs so they work behind any host name or proxy."""
    assets = importlib.resources.files("fastapi_swagger") / "resources"
    api.mount("/swagger", StaticFiles(directory=str(assets)), name="swagger")

    @api.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="soldout API",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )
