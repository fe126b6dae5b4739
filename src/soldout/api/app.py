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
    routes_community,
    routes_fans,
    routes_fulfilment,
    routes_me,
    routes_media,
    routes_rehearsals,
)
from soldout.api.errors import install_handlers
from soldout.api.hotpath import Front
from soldout.services import Platform
from soldout.web import admin_pages, mount_static, storefront

__all__ = ["build_app"]

OnStart = Callable[[Platform], Awaitable[None]]


def build_app(
    platform: Platform, *, max_body: int = 65536, on_start: OnStart | None = None
) -> Front:
    """The whole HTTP surface. Starting it (ASGI lifespan) starts the platform."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await platform.start()
        try:
            if on_start is not None:
                await on_start(platform)
            yield
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
    install_handlers(api)
    api.include_router(routes_fans.router)
    api.include_router(routes_admin.router)
    api.include_router(routes_fulfilment.router)
    api.include_router(routes_community.router)
    api.include_router(routes_media.router)
    api.include_router(routes_me.router)
    api.include_router(routes_rehearsals.router)
    api.include_router(storefront.router)
    api.include_router(admin_pages.router)
    mount_static(api)
    _serve_docs(api)

    @api.get("/healthz", tags=["anyone"])
    async def health(response: Response) -> dict[str, Any]:
        """200 while the store accepts writes, 503 once it has stopped (restart to recover)."""
        writer = getattr(platform.store, "writer", None)
        ok = writer is None or writer.failed is None
        if not ok:
            response.status_code = 503
        body: dict[str, Any] = {"status": "ok" if ok else "storage_failed", "version": __version__}
        if writer is not None:
            body["group_commit"] = {"transactions": writer.batches, "writes": writer.jobs}
        return body

    return Front(api, platform.engine, platform.tokens, platform.gate, max_body)


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
