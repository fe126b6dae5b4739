"""Word of mouth: who brought whom, points for the paid orders a fan's referrals place,
levels, priority codes granted by rule, and how much of a launch sold through referrals.

Everything here is derived from the record (fans' `referred_by` and the orders), so it is
rebuilt on start and never stored twice; only granted codes are written (as codes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from soldout.domain.claims import Order, OrderStatus
from soldout.domain.errors import Conflict, DomainError
from soldout.domain.fans import Fan
from soldout.domain.launches import Phase
from soldout.domain.notifications import Notification
from soldout.domain.referrals import (
    AttributionTree,
    Level,
    PointsLedger,
    ReferralPolicy,
    codes_owed,
    credit_paid_order,
    level_for,
    viral_figure,
)
from soldout.engine import SaleEngine
from soldout.ids import new_id
from soldout.store.ports import Store

__all__ = ["FanStanding", "Referrals"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FanStanding:
    points: int
    level: Level
    referred_fans: int
    referred_paid_orders: int
    codes_granted: int


class Referrals:
    def __init__(self, store: Store, engine: SaleEngine, policy: ReferralPolicy) -> None:
        self._store = store
        self._engine = engine
        self.policy = policy
        self._ledger = PointsLedger()
        self._referrer: dict[str, str] = {}  # fan -> the fan who referred them
        self._pairs: list[tuple[str, str | None]] = []
        self._granted: dict[str, int] = {}
        # points a fan earns elsewhere (the ideas board's), added to the referral points
        self.contribution: Callable[[str], int] = lambda fan_id: 0

    async def load(self) -> None:
        for fan_id, referred_by in await self._store.fans.referral_pairs():
            self._referrer[fan_id] = referred_by
            self._pairs.append((fan_id, referred_by))
        # (the store finds referred fans' orders: most orders are archived, not in memory)
        for order_id, fan_id in await self._store.orders.referred():
            credit_paid_order(
                self._ledger,
                self.policy,
                order_id=order_id,
                referred_by=self._referrer.get(fan_id),
            )
        for book in self._engine.books():
            for code in book.codes.values():
                if code.granted_to is not None:
                    self._granted[code.granted_to] = self._granted.get(code.granted_to, 0) + 1
        self._engine.orders.listeners.append(self)

    def registered(self, fan: Fan) -> None:
        if fan.referred_by is not None:
            self._referrer[fan.id] = fan.referred_by
            self._pairs.append((fan.id, fan.referred_by))

    # -- order listener --------------------------------------------------------------
    def paid(self, order: Order) -> None:
        if self._credit(order):
            referrer = self._referrer[order.fan_id]
            self._engine.in_background(self._grant_owed(referrer, order.launch_id))

    def refunded(self, order: Order) -> None:
        self._ledger.debit(order.id)

    def _credit(self, order: Order) -> bool:
        return credit_paid_order(
            self._ledger,
            self.policy,
            order_id=order.id,
            referred_by=self._referrer.get(order.fan_id),
        )

    async def _grant_owed(self, fan_id: str, launch_id: str) -> None:
        """Grant the codes the rule says `fan_id` has earned, for the launch their
        referral just bought in (if it still has units to set aside)."""
        standing = self.standing(fan_id)
        owed = codes_owed(
            self.policy, standing.referred_paid_orders, standing.level, standing.codes_granted
        )
        book = self._engine.book(launch_id)
        if owed <= 0 or book.launch.phase(self._engine.now()) is Phase.CLOSED:
            return  # (a closed launch's codes would buy nothing: they wait for the next)
        self._granted[fan_id] = standing.codes_granted + owed  # before the await: once
        try:
            codes = await self._engine.codes.issue(launch_id, None, owed, granted_to=fan_id)
        except (Conflict, DomainError) as refusal:
            self._granted[fan_id] -= owed
            log.info("no code for referrer %s in %s: %s", fan_id, launch_id, refusal.message)
            return
        note = Notification(
            new_id("ntf"),
            fan_id,
            "priority_code_granted",
            "Thank you for spreading the word: here "
            + ("is a priority code" if owed == 1 else f"are {owed} priority codes")
            + f" for launch {launch_id}: {', '.join(c.code for c in codes)}.",
            self._engine.now(),
            {"launch_id": launch_id, "codes": [c.code for c in codes]},
        )
        await self._store.notifications.add_many([note])

    # -- views -------------------------------------------------------------------------
    def standing(self, fan_id: str) -> FanStanding:
        points = self._ledger.points(fan_id) + self.contribution(fan_id)
        return FanStanding(
            points=points,
            level=level_for(points, self.policy.levels),
            referred_fans=sum(1 for r in self._referrer.values() if r == fan_id),
            referred_paid_orders=self._ledger.referred_paid_orders(fan_id),
            codes_granted=self._granted.get(fan_id, 0),
        )

    def tree(self, run: str | None = None) -> AttributionTree:
        """Who brought whom among real fans (or, given `run`, among that rehearsal's
        made-up fans: a rehearsal's word of mouth never mixes with the real one)."""
        return AttributionTree.build([p for p in self._pairs if self._run_of(p[0]) == run])

    def top(self, n: int, run: str | None = None) -> list[dict[str, Any]]:
        """The best referrers among real fans (or that rehearsal run's)."""
        counts = {
            fan: (self._ledger.referred_paid_orders(fan), self._ledger.points(fan))
            for fan in self._ledger.referrers()
            if self._run_of(fan) == run
        }
        return [r._asdict() for r in self.tree(run).top_referrers(counts, n)]

    def _run_of(self, fan_id: str) -> str | None:
        return self._engine.rehearsals.run_of(fan_id)

    def forget(self, fan_ids: Collection[str], order_ids: Collection[str]) -> None:
        """A removed rehearsal: its fans and their orders leave the ledger and the tree."""
        for order_id in order_ids:
            self._ledger.debit(order_id)
        gone = set(fan_ids)
        for fan_id in gone:
            self._referrer.pop(fan_id, None)
            self._granted.pop(fan_id, None)
        self._pairs = [p for p in self._pairs if p[0] not in gone]

    async def launch_figures(self, launch_id: str) -> dict[str, Any]:
        """Paid orders of the launch that came through referrals, and the viral figure."""
        paid = [
            o
            for o in await self._engine.orders_of_launch(launch_id)
            if o.status is not OrderStatus.REFUNDED
        ]
        via = sum(1 for o in paid if o.fan_id in self._referrer)
        return {
            "launch_id": launch_id,
            "paid_orders": len(paid),
            "via_referral": via,
            "viral_figure": viral_figure(len(paid), via),
        }
