"""The live display during a run: elapsed time, requests/s, claims won, sold-out answers
and errors, redrawn a few times a second on the terminal (stderr)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from rich.console import Console
from rich.live import Live
from rich.text import Text

from soldout.rehearsal.log import Counters, Timeline

__all__ = ["live_progress"]

REFRESH_SECONDS = 0.25


def _view(counters: Counters, elapsed: float, timeline: Timeline, rate: float) -> Text:
    clock = "" if timeline.opening is None else f"  sale clock {timeline.now():+.1f} s"
    errors = f"[red]{counters.errors:,}[/red]" if counters.errors else "0"
    return Text.from_markup(
        f"[bold]{counters.phase}[/bold]  elapsed {elapsed:.1f} s{clock}"
        f"  [bold]{rate:,.0f}[/bold] req/s  {counters.requests:,} requests"
        f"  won {counters.claims_won:,}  sold out {counters.sold_out:,}"
        f"  429 {counters.rate_limited:,}  paid {counters.paid:,}  errors {errors}"
    )


@contextlib.asynccontextmanager
async def live_progress(
    counters: Counters, timeline: Timeline, console: Console | None
) -> AsyncIterator[None]:
    """Shows the counters while the block runs; nothing at all when `console` is None."""
    if console is None:
        yield
        return
    loop = asyncio.get_running_loop()
    started = loop.time()
    window: deque[tuple[float, int]] = deque([(started, 0)])

    def render() -> Text:
        now = loop.time()
        window.append((now, counters.requests))
        while len(window) > 2 and now - window[0][0] > 1.0:
            window.popleft()
        (t0, n0), (t1, n1) = window[0], window[-1]
        rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        return _view(counters, now - started, timeline, rate)

    async def refresh(live: Live) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            live.update(render(), refresh=True)

    with Live(render(), console=console, auto_refresh=False, transient=False) as live:
        task = asyncio.create_task(refresh(live))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            live.update(render(), refresh=True)
