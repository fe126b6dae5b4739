"""The live dashboard of a launch: the page carries the sale's whole curve so far, drawn
from the record the engine holds (`services.sale_history`), and `/admin/launches/{id}/live`
keeps it moving with server-sent events: the curve again on each (re)connection, then one
snapshot per second, computed from memory by one `_Feed` per launch and shared by every
subscriber; the feed stops when the last one leaves."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse

from soldout.api.deps import platform_of
from soldout.domain.shop_time import said_at
from soldout.engine.book import LaunchBook
from soldout.services import Platform
from soldout.services.sale_history import SaleCurve, launch_curve
from soldout.web.admin_forms import shop_zone_of, signed_in
from soldout.web.admin_render import guarded, render

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

TICK_SECONDS = 1.0
# The curve reads every claim of the launch: dashboards opened (or reconnecting) together
# share one reading; the live snapshots cover what happened since.
CURVE_SECONDS = 2.0


@router.get("/launches/{launch_id}/dashboard")
async def dashboard(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        platform = platform_of(request)
        book = platform.engine.book(launch_id)
        feed = _hub(request).feed(platform, launch_id)
        first = feed.latest or _snapshot(platform, book, None)
        curve = await feed.curve()
        context = {
            "launch": book.launch,
            "first": first,
            "curve": curve.as_json(),
            "curve_note": _curve_note(curve, shop_zone_of(request)),
            "skus": list(book.stock),
        }
        return render(request, "admin/dashboard.html", context)

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


def _curve_note(curve: SaleCurve, zone: tzinfo) -> str | None:
    """'from 2030-01-01 12:00:05 UTC, a point every 5 seconds' (in the shop's zone), or
    None before the opening."""
    if not curve.points:
        return None
    step = curve.step_seconds
    size, unit = next((s, u) for s, u in _UNITS if step % s == 0)
    count = step // size
    start = said_at(curve.points[0].at, zone)
    return f"from {start}, a point every {count} {unit}{'s' * (count != 1)}"


_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


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
        "sold": sum(book.sold(code) for code in stock),
        "held": sum(s.held for s in stock.values()),
        "available": sum(s.available for s in stock.values()),
        "claims": claims,
        "claims_per_second": max(rate, 0.0),
        "reservations": book.reservation_count,
        "waiting_room": None if room is None else room.waiting,
        "admitted": None if room is None else room.admitted,
        "skus": {
            code: {
                "batch": s.batch,
                "available": s.available,
                "set_aside": s.set_aside,
                "held": s.held,
                "paid": s.paid,
                "sold": book.sold(code),
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
    task: asyncio.Task[None] | None = None
    _curve: tuple[float, SaleCurve] | None = None  # (when it was read, the curve)
    _reading: asyncio.Task[SaleCurve] | None = None
    ticks: int = 0  # snapshots computed (for tests and the curious)

    async def listen(self) -> AsyncIterator[dict[str, str]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        self.listeners.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield {
                "event": "history",
                "data": orjson.dumps((await self.curve()).as_json()).decode(),
            }
            while True:
                snapshot = await queue.get()
                yield {"event": "snapshot", "data": orjson.dumps(snapshot).decode()}
        finally:
            self.listeners.discard(queue)

    async def curve(self) -> SaleCurve:
        """The sale since its opening, from the record (bounded: see `MAX_POINTS`); one
        reading at a time, shared by those who ask meanwhile."""
        mono = time.monotonic()
        if self._curve is not None and mono - self._curve[0] <= CURVE_SECONDS:
            return self._curve[1]
        if self._reading is None or self._reading.done():
            read = launch_curve(self.platform.engine, self.launch_id)
            self._reading = asyncio.get_running_loop().create_task(read)
        curve = await asyncio.shield(self._reading)  # a client leaving stops no one else's
        self._curve = (mono, curve)
        return curve

    async def _run(self) -> None:
        before: _Sample | None = None
        while self.listeners:
            book = self.platform.engine.book(self.launch_id)
            snapshot = _snapshot(self.platform, book, before)
            before = _Sample(time.monotonic(), snapshot["claims"])
            self.ticks += 1
            self.latest = snapshot
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
