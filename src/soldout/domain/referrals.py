"""Word of mouth: referral points, fan levels, priority codes earned by referring, and who
brought whom.

Pure rules, no I/O. A referrer earns points for every paid order placed by a fan they
referred directly (`Fan.referred_by`); a refunded order takes its points back. Points give a
level; referred paid orders and levels earn priority codes.

    ledger = PointsLedger()
    credit_paid_order(ledger, policy, order_id="o1", referred_by=buyer.referred_by)
    level = level_for(ledger.points(fan.id), policy.levels)
    owed = codes_owed(policy, ledger.referred_paid_orders(fan.id), level, already_granted=0)
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypedDict

from soldout.domain.errors import InvalidInput

__all__ = [
    "DEFAULT_LEVELS",
    "AttributionTree",
    "Level",
    "Levels",
    "PointsLedger",
    "ReferralNode",
    "ReferralPolicy",
    "TopReferrer",
    "check_levels",
    "codes_owed",
    "credit_paid_order",
    "level_for",
    "viral_figure",
]

Levels = Sequence[tuple[int, str]]
"""(points from which the level starts, level name), lowest first; the first starts at 0."""

DEFAULT_LEVELS: tuple[tuple[int, str], ...] = (
    (0, "fan"),
    (10, "friend"),
    (50, "insider"),
    (200, "veteran"),
)

MAX_POINTS_PER_ORDER = 10_000
MAX_ORDERS_PER_CODE = 10_000


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_count(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(f"{field} must be a whole number, 0 or more", field=field)
    return value


def _check_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    return value


def check_levels(levels: Levels, *, field: str = "levels") -> None:
    """Levels start at 0 points, rise strictly, and have distinct non-empty names."""
    if not levels:
        raise InvalidInput("at least one level is required", field=field)
    previous: int | None = None
    names: set[str] = set()
    for entry in levels:
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise InvalidInput("each level is a (points_from, name) pair", field=field)
        points_from, name = entry
        if not _is_int(points_from) or points_from < 0:
            raise InvalidInput("level thresholds are whole numbers of points", field=field)
        if previous is None and points_from != 0:
            raise InvalidInput("the first level starts at 0 points", field=field)
        if previous is not None and points_from <= previous:
            raise InvalidInput("level thresholds must be strictly increasing", field=field)
        if not isinstance(name, str) or not name or name in names:
            raise InvalidInput("level names must be distinct and non-empty", field=field)
        previous = points_from
        names.add(name)


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    rank: int  # 0 for the first level
    points_from: int
    next_at: int | None  # points at which the next level starts; None at the top


def level_for(points: int, levels: Levels = DEFAULT_LEVELS) -> Level:
    """The highest level whose threshold `points` has reached."""
    check_levels(levels)
    _check_count(points, "points")
    rank = max(i for i, (points_from, _) in enumerate(levels) if points >= points_from)
    points_from, name = levels[rank]
    next_at = levels[rank + 1][0] if rank + 1 < len(levels) else None
    return Level(name=name, rank=rank, points_from=points_from, next_at=next_at)


@dataclass(frozen=True, slots=True)
class ReferralPolicy:
    """How referring is rewarded.

    `code_every_n_orders`: one priority code per N paid orders by directly referred fans.
    `code_at_level`: one more code, once, on reaching that level of `levels`.
    """

    points_per_paid_order: int = 10
    code_every_n_orders: int | None = 5
    code_at_level: str | None = None
    levels: tuple[tuple[int, str], ...] = DEFAULT_LEVELS

    def __post_init__(self) -> None:
        p = self.points_per_paid_order
        if not _is_int(p) or not 0 <= p <= MAX_POINTS_PER_ORDER:
            raise InvalidInput(
                f"points_per_paid_order must be between 0 and {MAX_POINTS_PER_ORDER}",
                field="points_per_paid_order",
            )
        n = self.code_every_n_orders
        if n is not None and (not _is_int(n) or not 1 <= n <= MAX_ORDERS_PER_CODE):
            raise InvalidInput(
                f"code_every_n_orders must be between 1 and {MAX_ORDERS_PER_CODE}, or unset",
                field="code_every_n_orders",
            )
        check_levels(self.levels)
        if self.code_at_level is not None and self.code_at_level_rank() < 1:
            raise InvalidInput(
                "code_at_level must name a level above the first", field="code_at_level"
            )

    def code_at_level_rank(self) -> int:
        """Rank of `code_at_level` in `levels` (-1 when unset or unknown)."""
        names = [name for _, name in self.levels]
        return names.index(self.code_at_level) if self.code_at_level in names else -1


def codes_owed(
    policy: ReferralPolicy, referred_paid_orders: int, level: Level, already_granted: int
) -> int:
    """Priority codes to grant now: those earned so far minus those already granted.

    Earned so far = one per `code_every_n_orders` live referred paid orders, plus one once
    `level` (from `level_for(points, policy.levels)`) reaches `code_at_level`. Refunds never
    claw back a granted code: the answer is never negative, and after a refund nothing more
    is owed until the live counts earn past what was already granted.
    """
    _check_count(referred_paid_orders, "referred_paid_orders")
    _check_count(already_granted, "already_granted")
    earned = 0
    if policy.code_every_n_orders is not None:
        earned += referred_paid_orders // policy.code_every_n_orders
    if policy.code_at_level is not None and level.rank >= policy.code_at_level_rank():
        earned += 1
    return max(0, earned - already_granted)


class PointsLedger:
    """Referral points in memory, one entry per paid order; replay-safe both ways.

    Crediting an order already credited (or already refunded) does nothing; debiting an
    order never credited, or twice, does nothing.
    """

    __slots__ = ("_debited", "_live", "_orders", "_points")

    def __init__(self) -> None:
        self._live: dict[str, tuple[str, int]] = {}  # order_id -> (referrer_id, points)
        self._debited: set[str] = set()
        self._points: Counter[str] = Counter()
        self._orders: Counter[str] = Counter()

    def credit(self, referrer_id: str, order_id: str, points: int) -> bool:
        """Credit `referrer_id` for a paid order; True when this call changed the ledger."""
        _check_id(referrer_id, "referrer_id")
        _check_id(order_id, "order_id")
        _check_count(points, "points")
        if order_id in self._live or order_id in self._debited:
            return False
        self._live[order_id] = (referrer_id, points)
        self._points[referrer_id] += points
        self._orders[referrer_id] += 1
        return True

    def debit(self, order_id: str) -> int:
        """Take back the points of a refunded order; the points taken back (0 if none)."""
        entry = self._live.pop(order_id, None)
        if entry is None:
            return 0
        self._debited.add(order_id)
        referrer_id, points = entry
        self._points[referrer_id] -= points
        self._orders[referrer_id] -= 1
        if not self._orders[referrer_id]:
            del self._orders[referrer_id], self._points[referrer_id]
        return points

    def points(self, fan_id: str) -> int:
        return self._points[fan_id]

    def referred_paid_orders(self, fan_id: str) -> int:
        """Paid, not refunded, orders placed by fans `fan_id` referred."""
        return self._orders[fan_id]

    def referrers(self) -> frozenset[str]:
        """Fans with at least one live credited order."""
        return frozenset(self._orders)


def credit_paid_order(
    ledger: PointsLedger, policy: ReferralPolicy, *, order_id: str, referred_by: str | None
) -> bool:
    """Credit the buyer's direct referrer (`Fan.referred_by`), if any, for a paid order.

    Only the direct referrer earns: the referrer's own referrer gets nothing.
    """
    if referred_by is None:
        return False
    return ledger.credit(referred_by, order_id, policy.points_per_paid_order)


class TopReferrer(NamedTuple):
    fan_id: str
    direct_referrals: int
    referred_paid_orders: int
    points: int


class ReferralNode(TypedDict):
    fan_id: str
    direct_referrals: int
    children: list[ReferralNode]  # empty past max_depth; direct_referrals still counts them


class AttributionTree:
    """Who referred whom, built from (fan_id, referred_by) pairs.

    Tolerates malformed input: a fan listed twice keeps its first referrer, a fan naming
    itself is a root, and cycles are walked once instead of forever.

        tree = AttributionTree.build((f.id, f.referred_by) for f in fans)
    """

    __slots__ = ("_children", "_parent")

    def __init__(self, parent: Mapping[str, str]) -> None:
        self._parent = dict(parent)
        children: dict[str, list[str]] = {}
        for fan_id, referrer in self._parent.items():
            children.setdefault(referrer, []).append(fan_id)
        self._children = {k: tuple(sorted(v)) for k, v in children.items()}

    @classmethod
    def build(cls, pairs: Iterable[tuple[str, str | None]]) -> AttributionTree:
        parent: dict[str, str] = {}
        seen: set[str] = set()
        for fan_id, referred_by in pairs:
            if fan_id in seen:
                continue
            seen.add(fan_id)
            if referred_by is not None and referred_by != fan_id:
                parent[fan_id] = referred_by
        return cls(parent)

    def referrer_of(self, fan_id: str) -> str | None:
        return self._parent.get(fan_id)

    def children(self, fan_id: str) -> tuple[str, ...]:
        """Fans `fan_id` referred directly, by id."""
        return self._children.get(fan_id, ())

    def descendants(self, fan_id: str) -> list[str]:
        """Everyone brought in by `fan_id`, at any distance, breadth first; never `fan_id`."""
        found: list[str] = []
        seen = {fan_id}
        queue = deque([fan_id])
        while queue:
            for child in self.children(queue.popleft()):
                if child not in seen:
                    seen.add(child)
                    found.append(child)
                    queue.append(child)
        return found

    def depth(self, fan_id: str) -> int:
        """Referral hops up to a fan nobody referred (0 for such a fan).

        Inside a malformed cycle: the number of distinct fans above before it repeats.
        """
        seen = {fan_id}
        hops = 0
        current = self._parent.get(fan_id)
        while current is not None and current not in seen:
            seen.add(current)
            hops += 1
            current = self._parent.get(current)
        return hops

    def subtree(self, fan_id: str, max_depth: int) -> ReferralNode:
        """`fan_id` and who it brought in, `max_depth` levels down, for an admin view."""
        _check_count(max_depth, "max_depth")

        def node(current: str, depth: int, path: frozenset[str]) -> ReferralNode:
            kids = self.children(current)
            expand = depth < max_depth
            return {
                "fan_id": current,
                "direct_referrals": len(kids),
                "children": [
                    node(kid, depth + 1, path | {kid}) for kid in kids if expand and kid not in path
                ],
            }

        return node(fan_id, 0, frozenset({fan_id}))

    def top_referrers(
        self, source: PointsLedger | Mapping[str, tuple[int, int]], n: int
    ) -> list[TopReferrer]:
        """The `n` best referrers: most referred paid orders, then most points, then by id.

        `source` is a ledger or, per fan, (referred_paid_orders, points).
        """
        _check_count(n, "n")
        if isinstance(source, PointsLedger):
            counts = {
                f: (source.referred_paid_orders(f), source.points(f)) for f in source.referrers()
            }
        else:
            counts = dict(source)
        rows = [
            TopReferrer(fan, len(self.children(fan)), *counts.get(fan, (0, 0)))
            for fan in set(self._children) | set(counts)
        ]
        rows = [r for r in rows if r.direct_referrals or r.referred_paid_orders or r.points]
        rows.sort(key=lambda r: (-r.referred_paid_orders, -r.points, r.fan_id))
        return rows[:n]


def viral_figure(paid_orders_total: int, paid_orders_via_referral: int) -> float | None:
    """Paid orders that came through referrals / all paid orders, rounded to 4 places.

    An order comes through a referral when its buyer was referred by another fan
    (`Fan.referred_by` is set). None when there are no paid orders yet.
    """
    _check_count(paid_orders_total, "paid_orders_total")
    _check_count(paid_orders_via_referral, "paid_orders_via_referral")
    if paid_orders_via_referral > paid_orders_total:
        raise InvalidInput(
            "paid_orders_via_referral cannot exceed paid_orders_total",
            field="paid_orders_via_referral",
        )
    if paid_orders_total == 0:
        return None
    return round(paid_orders_via_referral / paid_orders_total, 4)
