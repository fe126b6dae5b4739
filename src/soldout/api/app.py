"""Builds the ASGI application: the hot-path `Front` around the FastAPI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Response
from fastapi_swagger import patch_fastapi

from soldout import __version__
from soldout.api import routes_admin, routes_fans
from soldout.api.errors import install_handlers
from soldout.api.hotpath import Front
from soldout.services import Platform

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
    patch_fastapi(api, docs_url="/docs", redirect_from_root_to_docs=False)

    @api.get("/healthz", tags=["anyone"])
    async def health(response: Response) -> dict[str, Any]:
        """200 while the store accepts writes, 503 once it has stopped (restart to recover)."""
        writer = getattr(platform.store, "writer", None)
        ok = writer is None or writer.failed is None
        if not ok:
            response.status_code = 503
        return {"status": "ok" if ok else "storage_failed", "version": __version__}

    return Front(api, platform.engine, platform.tokens, max_body)
