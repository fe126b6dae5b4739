"""An address nothing answers: the shop's page when it can be drawn, and a plain page
(still a 404, still no stack trace) when drawing it fails, say with the store unreadable."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response

from soldout.api.errors import install_handlers

BROWSER = {"accept": "text/html"}


async def _shops_page(request: Request) -> Response:
    return Response("<h1>the shop's own</h1>", status_code=404, media_type="text/html")


async def _broken_page(request: Request) -> Response:
    raise OSError("disk I/O error")


async def _get(not_found: object, path: str) -> httpx.Response:
    app = FastAPI()
    install_handlers(app, not_found=not_found)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=BROWSER)


async def test_the_shops_page_answers_an_unknown_address() -> None:
    answer = await _get(_shops_page, "/nowhere")
    assert (answer.status_code, answer.text) == (404, "<h1>the shop's own</h1>")


async def test_a_page_that_fails_leaves_the_plain_one() -> None:
    answer = await _get(_broken_page, "/nowhere")
    assert answer.status_code == 404
    assert "This page does not exist." in answer.text
    assert "disk I/O" not in answer.text
