"""Proof of work for the simulated clients, solved in worker processes so that the
event loop driving everyone else is never blocked by a hash loop.

Fans and bots get separate pools: each fan would solve on their own device, and a bot
farm's CPU is its own problem; sharing one queue would make fans wait behind bots.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor

from soldout.domain.pow import solve

__all__ = ["Solve", "Solvers"]

Solve = Callable[[str, int, str], Awaitable[str]]  # (token, difficulty, actor) -> nonce


class Solvers:
    def __init__(self, fan_workers: int = 1, bot_workers: int = 1) -> None:
        context = multiprocessing.get_context("spawn")
        self._pools = {
            "fan": ProcessPoolExecutor(fan_workers, mp_context=context),
            "bot": ProcessPoolExecutor(bot_workers, mp_context=context),
        }

    async def warm_up(self) -> None:
        """Start the worker processes now, not at the first claim."""
        await asyncio.gather(*(self.solve("warm-up", 1, actor) for actor in self._pools))

    async def solve(self, token: str, difficulty: int, actor: str) -> str:
        pool = self._pools["bot" if actor == "bot" else "fan"]
        return await asyncio.get_running_loop().run_in_executor(pool, solve, token, difficulty)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
