"""The live dashboard of a launch: `/admin/launches/{id}/live` sends server-sent events
fed by one `_Feed` per launch, one snapshot per second computed from memory and shared by
every subscriber; the feed stops when the last one leaves."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse

from soldout.api.deps import platform_of
from soldout.engine.book import LaunchBook
from soldout.services import Platform
from soldout.web.admin_forms import signed_in
from soldout.web.admin_render import guarded, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

TICK_SECONDS = 1.0
HISTORY = 120  # samples a dashboard opened mid-sale starts with


@router.get("/launches/{launch_id}/dashboard")
async def dashboard(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        platform = platform_of(request)
        book = platform.engine.book(launch_id)
        first = _hub(request).feed(platform, launch_id).latest or _snapshot(platform, book, None)
        return render(request, "admin/dashboard.html", {"launch": book.launch, "first": first})

    return await guarded(request, handle)


@router.get("/launches/{launch_id}/live")
async def live(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        platform = platform_of(request)
        platform.engine.book(launch_id)
        feed = _hub(request).feed(platform, launch_id)
        return EventSourceResponse(
            feed.listen(), ping=15, headers={"cache-control": "no-store"}, send_timeout=10
        )

    return await guarded(request, handle)


def _snapshot(platform: Platform, book: LaunchBook, before: _Sample | None) -> dict[str, Any]:
    """One launch's figures now, from memory only (no store read)."""
    now = platform.clock.now()
    claims = sum(book.claim_states.values())
    mono = time.monotonic()
    rate = 0.0
    if before is not None and mono > before.at:
        rate = round((claims - before.claims) / (mono - before.at), 1)
    room = platform.gate.room_size(book)
    stock = book.stock
    return {
        "at": now.isoformat(),
        "status": book.status(now).value,
        "sold": sum(s.paid for s in stock.values()),
        "held": sum(s.held for s in stock.values()),
        "available": sum(s.available for s in stock.values()),
        "claims": claims,
        "claims_per_second": max(rate, 0.0),
        "reservations": len(book.reservations),
        "waiting_room": None if room is None else room.waiting,
        "admitted": None if room is None else room.admitted,
        "skus": {
            code: {
                "batch": s.batch,
                "available": s.available,
                "set_aside": s.set_aside,
                "held": s.held,
                "paid": s.paid,
            }
            for code, s in stock.items()
        },
    }


@dataclass(slots=True)
class _Sample:
    at: float
    claims: int


@dataclass(slots=True)
class _Feed:
    """One launch's snapshots: computed once per tick, handed to every subscriber."""

    platform: Platform
    launch_id: str
    listeners: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)
    latest: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    ticks: int = 0  # snapshots computed (for tests and the curious)

    async def listen(self) -> AsyncIterator[dict[str, str]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        self.listeners.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield {"event": "history", "data": orjson.dumps(self.history).decode()}
            while True:
                snapshot = await queue.get()
                yield {"event": "snapshot", "data": orjson.dumps(snapshot).decode()}
        finally:
            self.listeners.discard(queue)

    async def _run(self) -> None:
        before: _Sample | None = None
        while self.listeners:
            book = self.platform.engine.book(self.launch_id)
            snapshot = _snapshot(self.platform, book, before)
            before = _Sample(time.monotonic(), snapshot["claims"])
            self.ticks += 1
            self.latest = snapshot
            self.history = [*self.history[-(HISTORY - 1) :], snapshot]
            for queue in list(self.listeners):
                if queue.full():  # a slow client gets the newest snapshot, not a backlog
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(snapshot)
            await asyncio.sleep(TICK_SECONDS)
        self.task = None


@dataclass(slots=True)
class _Hub:
    feeds: dict[str, _Feed] = field(default_factory=dict)

    def feed(self, platform: Platform, launch_id: str) -> _Feed:
        feed = self.feeds.get(launch_id)
        if feed is None:
            feed = self.feeds[launch_id] = _Feed(platform, launch_id)
        return feed


def _hub(request: Request) -> _Hub:
    state = request.app.state
    hub: _Hub | None = getattr(state, "admin_live", None)
    if hub is None:
        hub = state.admin_live = _Hub()
    return hub
