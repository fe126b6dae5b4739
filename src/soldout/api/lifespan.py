"""The ASGI lifespan protocol, driven by hand for an app served over RSGI (Granian's native
interface starts no lifespan of its own): `startup` before the first request is served,
`shutdown` after the last."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from soldout.api.hotpath import ASGIApp, Message
from soldout.api.rsgi import ASGI_VERSION

__all__ = ["Lifespan", "LifespanFailed"]


class LifespanFailed(Exception):
    """The app reported that its start-up (or shutdown) failed, and why."""


class Lifespan:
    """The ASGI lifespan protocol, driven by hand for an app served over RSGI."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Future[None] | None = None

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        self._task = asyncio.ensure_future(self._app(scope, self._inbox.get, self._outbox.put))
        await self._step("startup")

    async def shutdown(self) -> None:
        if self._task is not None and not self._task.done():
            await self._step("shutdown")
            await self._task

    async def _step(self, step: str) -> None:
        assert self._task is not None
        await self._inbox.put({"type": f"lifespan.{step}"})
        answer = asyncio.ensure_future(self._outbox.get())
        waiting: set[asyncio.Future[Any]] = {answer, self._task}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            self._task.result()  # raises what the app raised
            raise LifespanFailed(f"the app ended its lifespan during {step}")
        message = answer.result()
        if message["type"] != f"lifespan.{step}.complete":
            # the app re-raises what it reported: its report (with the traceback) is enough
            with contextlib.suppress(BaseException):
                await self._task
            raise LifespanFailed(message.get("message", "") or f"{step} failed")
