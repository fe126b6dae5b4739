"""A claim worker: decides claims through Redis and PostgreSQL, forwards the rest.

Any number of workers run beside one owner (`scaleout.owner`), behind any load balancer.
Each one answers `POST /api/v1/launches/{id}/claims` itself (`ScaleOutClaims`: Redis
decides, PostgreSQL records, then 201) and forwards every other request, whole, to the
owner, whose address it reads from Redis (`owner.OWNER_KEY`). It checks the gate itself
(a waiting room's admission, proof of work, a storefront's session: `worker_gate`); a
claim that needs what only the owner has (a duplicate check, a draw's or a rehearsal's
launch) is forwarded. A worker holds nothing that must outlive it: kill one and the
others, and the owner's reaper, carry on.

What a worker keeps in its own memory, and how fresh it is:
- rate limits: each fan's and each client address's claims are counted in Redis as they
  are taken, shared by every worker (a worker also keeps the address's rate of every
  claim it answers, the refused ones included, as one process does);
- its claims counted since the last round, added to the owner's `/metrics` every round
  (`worker_metrics`);
- a refusal for `claims.FLAG_SECONDS`, a launch's terms for `claims.TERMS_SECONDS`, a
  storefront session for `worker_gate.SESSION_SECONDS`;
- fans who signed out everywhere, or were erased, and the owner's address, re-read every
  `REFRESH` seconds.

`GET /healthz/worker` is the worker's own health, for a load balancer's checks.

    app = WorkerApp(WorkerSettings(store_url, redis_url), settings)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from soldout.api import access
from soldout.api.claim_core import ClaimCore
from soldout.api.hotpath import Front
from soldout.api.proxies import TrustedProxies
from soldout.clock import SystemClock
from soldout.metrics import ClaimMeter
from soldout.scaleout.claims import ScaleOutClaims
from soldout.scaleout.forward import Forward
from soldout.scaleout.owner import OWNER_KEY
from soldout.scaleout.redis_allocator import Client
from soldout.scaleout.redis_values import FanRate
from soldout.scaleout.worker_gate import WorkerGate, WorkerSessions
from soldout.scaleout.worker_metrics import ClaimsPush
from soldout.services.gate import GateSettings
from soldout.services.tokens import TokenSigner
from soldout.store.postgresql import PostgresStore

__all__ = ["REFRESH", "WorkerApp", "WorkerSettings"]

log = logging.getLogger(__name__)

START_WAIT = 120.0  # seconds a worker waits at start for the owner's store
REFRESH = 0.5  # seconds between a worker's reads of the owner's address and sign-outs
SIGN_OUTS = 4  # rounds between reads of fans signed out everywhere (2 s)
HEALTH = "/healthz/worker"  # answered by the worker itself
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class WorkerSettings:
    store_url: str
    redis: Callable[[], Client]  # makes the worker's client (asyncio)
    prefix: str = "soldout"
    admin_token: str = ""
    gate: GateSettings = field(default_factory=GateSettings)
    max_body: int = 65536
    proxies: TrustedProxies | None = None
    pending_seconds: float = 10.0


class WorkerApp:
    """The worker's ASGI app: its lifespan opens the store and Redis; HTTP goes to a
    `Front` whose claims are decided here and whose other requests are forwarded."""

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._clock = SystemClock()
        self._store = PostgresStore(settings.store_url)
        self._redis = settings.redis()
        self._owner: str | None = None
        self.tokens = TokenSigner(None, settings.admin_token or "-" * 32)
        self.claims = ScaleOutClaims(
            self._redis,
            self._store,
            self._clock,
            prefix=settings.prefix,
            pending_seconds=settings.pending_seconds,
            rate=FanRate.of(settings.gate.fan_rate, settings.gate.fan_burst),
            address_rate=FanRate.of(settings.gate.address_rate, settings.gate.address_burst),
        )
        self.forward = Forward(lambda: self._owner)
        self.gate = WorkerGate(settings.gate, self._clock)
        sessions = WorkerSessions(lambda: self._store, self.tokens, self._clock)
        self.meter = ClaimMeter()  # this worker's claims, added to the owner's /metrics
        self._push = ClaimsPush(self.meter, self._redis, settings.prefix)
        core = ClaimCore(
            self.claims,
            self.tokens,
            self.gate,  # type: ignore[arg-type]
            self.meter,
            fan_session=sessions.fan_of,
            find_session=sessions.find,
        )
        # Claims first (`Front`; over RSGI under Granian: `api.rsgi`), then `_behind`: the
        # lifespan, this worker's health, and everything forwarded to the owner.
        self.front = Front(self._behind, core, settings.max_body, proxies=settings.proxies)
        self._refresher: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.front(scope, receive, send)

    async def _behind(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            if scope["path"] == HEALTH:
                access.route_named(scope, HEALTH)
                await self._health(send)
            else:
                access.route_named(scope, access.FORWARDED_ROUTE)
                await self.forward(scope, receive, send)

    async def _health(self, send: Send) -> None:
        """This worker's own health (everything else is the owner's): 200 when it can
        sell (the store writes, Redis answers), whether or not the owner is reachable
        (`owner`: its address, or null while none is known)."""
        failed = self._store.writer.failed
        try:
            redis_ok = bool(await self._redis.ping())
        except Exception:
            redis_ok = False
        # (an owner out of reach fails only what is forwarded: claims still sell here)
        ok = failed is None and redis_ok
        body = orjson.dumps(
            {
                "status": "ok" if ok else "error",
                "role": "worker",
                "owner": self._owner,
                "redis": redis_ok,
                "store": "ok" if failed is None else f"stopped: {failed}",
            }
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send(
            {"type": "http.response.start", "status": 200 if ok else 503, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    log.exception("worker start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        """Opens the store, waiting (up to `START_WAIT`) for the owner to have made it."""
        deadline = time.monotonic() + START_WAIT
        while True:
            try:
                await self._store.open_as_worker()
                self.tokens.use_secret(await self._store.secret("token-signing"))
                self.gate.use_secret(await self._store.secret("gate"))
                await self._refresh()
                break
            except Exception as exc:
                await self._store.close()
                self._store = PostgresStore(self._settings.store_url)
                self.claims.store = self._store
                if time.monotonic() > deadline:
                    raise
                log.info("waiting for the owner's store: %s", exc)
                await asyncio.sleep(0.5)  # the owner creates and migrates it
        loop = asyncio.get_running_loop()
        self._refresher = loop.create_task(self._refreshing())
        self._listener = loop.create_task(self.claims.listen())

    async def stop(self) -> None:
        for task in (self._refresher, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.forward.aclose()
        with contextlib.suppress(Exception):
            await self._push()  # the last counts
        await self._store.close()
        await self._redis.aclose()

    async def _refreshing(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(REFRESH)  # a round every REFRESH seconds
            rounds += 1
            try:
                await self._refresh(sign_outs=rounds % SIGN_OUTS == 0)
            except Exception as exc:
                log.warning("worker refresh: %s", exc)

    async def _refresh(self, *, sign_outs: bool = True) -> None:
        """The owner's address, a writer started again once PostgreSQL answers after a
        failure, and (`sign_outs`) fans signed out everywhere or erased."""
        owner = await self._redis.get(f"{self._settings.prefix}:{OWNER_KEY}")
        self._owner = owner.decode() if isinstance(owner, bytes) else owner
        await self._store.write_again()
        if sign_outs:
            for fan_id, generation in await self._store.sessions.generations():
                self.tokens.set_generation(fan_id, generation)
            for fan_id in await self._store.fans.erased():
                self.tokens.revoke(fan_id)
        try:
            await self._push()  # (its own failure skips nothing above)
        except Exception as exc:
            log.warning("worker metrics push: %s", exc)
