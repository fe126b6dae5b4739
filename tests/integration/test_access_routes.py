"""Every access line names what the request reached: the route's template, a plain
route's path (`/openapi.json`), a mount's prefix, or, on a scale-out worker, that it was
forwarded to the owner; never null for a request some part of the server took."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.scaleout.worker import WorkerApp, WorkerSettings
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore

ADMIN = "adm_in_process_token_for_access_routes"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    platform = Platform(InMemoryStore(), TokenSigner(None, ADMIN), FakeClock())
    front = build_app(platform)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(front), base_url="http://t") as c:
        await platform.start(sweep=False)
        try:
            yield c
        finally:
            await platform.stop()


def routes_logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str | None, int]]:
    return [
        (getattr(r, "route", None), getattr(r, "status", 0))
        for r in caplog.records
        if r.name == "soldout.access"
    ]


async def test_the_api_document_and_the_docs_files_are_logged_by_their_route(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="soldout.access")
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/swagger/swagger-ui.css")).status_code == 200
    assert (await client.get("/api/v1/launches")).status_code == 200
    assert (await client.get("/no/such/page")).status_code == 404
    assert routes_logged(caplog) == [
        ("/openapi.json", 200),
        ("/docs", 200),
        ("/swagger/{path}", 200),
        ("/api/v1/launches", 200),
        (None, 404),  # no route took it
    ]


async def test_the_admins_pages_are_logged_and_counted_under_admin(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The admin's pages are routers under /admin: their lines and series were named
    without it ("/team", "/launches" beside the storefront's own /launches)."""
    caplog.set_level(logging.INFO, logger="soldout.access")
    assert (await client.get("/admin/team")).status_code == 303  # (not signed in)
    assert (await client.get("/admin/launches")).status_code == 303
    assert (await client.get("/admin")).status_code == 303
    assert (await client.get("/launches/lch_none")).status_code == 404
    assert routes_logged(caplog) == [
        ("/admin/team", 303),
        ("/admin/launches", 303),
        ("/admin", 303),
        ("/launches/{launch_id}", 404),
    ]
    metrics = await client.get("/metrics", headers={"authorization": f"Bearer {ADMIN}"})
    counted = {line.split("{", 1)[1] for line in metrics.text.splitlines() if "route=" in line}
    assert any('route="/admin/team"' in labels for labels in counted)
    assert not any('route="/team"' in labels for labels in counted)


async def test_a_request_a_worker_forwards_is_logged_as_forwarded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="soldout.access")
    # (neither is reached: no owner is known yet, so the worker answers 503 itself)
    unreachable = WorkerSettings(
        "postgresql://nobody@127.0.0.1:1/none",
        lambda: redis.asyncio.Redis(port=1, retry=Retry(NoBackoff(), 0)),
    )
    worker = WorkerApp(unreachable)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(worker), base_url="http://t") as c:
        assert (await c.get("/api/v1/launches")).status_code == 503
        assert (await c.get("/healthz/worker")).status_code == 503  # (Redis is out of reach)
    assert routes_logged(caplog) == [
        ("(forwarded to the owner)", 503),
        ("/healthz/worker", 503),
    ]
