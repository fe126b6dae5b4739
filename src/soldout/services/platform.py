"""The running platform: one store, one engine, the services, and the expiry sweeper."""

from __future__ import annotations

import asyncio
import contextlib

from soldout.clock import Clock, SystemClock
from soldout.engine import SaleEngine
from soldout.payments import PaymentProvider, TestPayments
from soldout.services.catalog import Catalog
from soldout.services.fans import Fans
from soldout.services.tokens import TokenSigner
from soldout.store.ports import Store

__all__ = ["Platform"]


class Platform:
    """`await platform.start()` opens the store, rebuilds the engine and starts the sweeper."""

    def __init__(
        self,
        store: Store,
        tokens: TokenSigner,
        clock: Clock | None = None,
        payments: PaymentProvider | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.clock = clock or SystemClock()
        self.engine = SaleEngine(store, self.clock, payments or TestPayments())
        self.catalog = Catalog(store, self.engine, self.clock)
        self.fans = Fans(store, self.clock, tokens)
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, *, sweep: bool = True) -> None:
        await self.store.open()
        if not self.tokens.has_secret:
            self.tokens.use_secret(await self.store.secret("token-signing"))
        await self.engine.load()
        if sweep:
            self._sweeper = asyncio.get_running_loop().create_task(self.engine.run_sweeper())

    async def stop(self) -> None:
        try:
            if self._sweeper is not None:
                self._sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sweeper
        finally:
            await self.store.close()
