"""The checks at the end of a rehearsal, over plain data: what the server says it holds
and every "yes" a simulated client was given.

    checks = check_invariants(state, yeses)
    failed = [c for c in checks if not c.ok]

Pure, so a test can hand it an oversold state or a "yes" the server never recorded.
`state.read_server_state` fills `ServerState` over HTTP.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "LIVE",
    "Check",
    "ServerClaim",
    "ServerOrder",
    "ServerState",
    "SkuCount",
    "Yes",
    "check_invariants",
    "exit_status",
]

LIVE = frozenset({"held", "paid"})  # claim states that hold a unit
_SHOWN = 5  # offenders named in a check's detail


@dataclass(frozen=True, slots=True)
class SkuCount:
    batch: int
    held: int
    paid: int
    set_aside: int


@dataclass(frozen=True, slots=True)
class ServerClaim:
    id: str
    fan_id: str
    sku: str
    quantity: int
    state: str
    order_id: str | None = None
    created_at: str = ""
    closed_at: str | None = None


@dataclass(frozen=True, slots=True)
class ServerOrder:
    id: str
    claim_id: str
    sku: str
    quantity: int
    status: str


@dataclass(frozen=True, slots=True)
class ServerState:
    skus: Mapping[str, SkuCount]
    per_fan_limit: int
    claims: Sequence[ServerClaim]
    orders: Sequence[ServerOrder]
    reconciliation_ok: bool = True
    mismatches: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Yes:
    """A "yes" a client was given: a claim (201/200, or a draw win) or an order (paid)."""

    kind: Literal["claim", "order"]
    id: str
    sku: str
    fan_id: str
    claim_id: str | None = None  # an order's claim


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_invariants(state: ServerState, yeses: Iterable[Yes]) -> list[Check]:
    return [
        _not_oversold(state),
        _limit_per_fan(state),
        _no_duplicates(state),
        _every_yes_recorded(state, list(yeses)),
        Check(
            "reconciliation",
            state.reconciliation_ok,
            "orders, payments and stock agree"
            if state.reconciliation_ok
            else _some(list(state.mismatches)),
        ),
    ]


def exit_status(checks: Iterable[Check]) -> int:
    """What `soldout rehearse` exits with for these checks: 0 if all passed, else 1."""
    return 0 if all(c.ok for c in checks) else 1


def _some(items: Sequence[str]) -> str:
    more = f" (and {len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


def _not_oversold(state: ServerState) -> Check:
    problems = []
    for sku, n in sorted(state.skus.items()):
        taken = n.held + n.paid + n.set_aside
        if taken > n.batch or min(n.held, n.paid, n.set_aside) < 0:
            problems.append(
                f"{sku}: held {n.held} + paid {n.paid} + set aside {n.set_aside} > batch {n.batch}"
            )
    recorded: Counter[str] = Counter()
    for claim in state.claims:
        if claim.state in LIVE:
            recorded[claim.sku] += claim.quantity
    for sku, units in sorted(recorded.items()):
        batch = state.skus[sku].batch if sku in state.skus else 0
        if units > batch:
            problems.append(f"{sku}: {units} units in live claims > batch {batch}")
    total = sum(n.batch for n in state.skus.values())
    sold = sum(n.held + n.paid for n in state.skus.values())
    return Check("not oversold", not problems, _some(problems) or f"{sold} of {total} units taken")


def _limit_per_fan(state: ServerState) -> Check:
    units: Counter[str] = Counter()
    for claim in state.claims:
        if claim.state in LIVE:
            units[claim.fan_id] += claim.quantity
    over = [f"{fan}: {n} units" for fan, n in units.most_common() if n > state.per_fan_limit]
    return Check(
        "per-fan limit",
        not over,
        _some(over) + f" > limit {state.per_fan_limit}"
        if over
        else f"no fan holds more than {state.per_fan_limit}",
    )


def _no_duplicates(state: ServerState) -> Check:
    problems = []
    claim_ids = Counter(c.id for c in state.claims)
    problems += [f"claim {i} listed {n} times" for i, n in claim_ids.items() if n > 1]
    order_ids = Counter(o.id for o in state.orders)
    problems += [f"order {i} listed {n} times" for i, n in order_ids.items() if n > 1]
    per_claim: defaultdict[str, list[str]] = defaultdict(list)
    for order in state.orders:
        per_claim[order.claim_id].append(order.id)
    problems += [f"claim {c} has orders {', '.join(o)}" for c, o in per_claim.items() if len(o) > 1]
    claims = {c.id: c for c in state.claims}
    for order in state.orders:
        claim = claims.get(order.claim_id)
        if claim is None:
            problems.append(f"order {order.id} has no claim {order.claim_id}")
        elif claim.order_id != order.id:
            problems.append(f"order {order.id}: its claim {claim.id} names {claim.order_id}")
    return Check(
        "no duplicates",
        not problems,
        _some(problems) or f"{len(claims)} claims, {len(order_ids)} orders, one order per claim",
    )


def _every_yes_recorded(state: ServerState, yeses: Sequence[Yes]) -> Check:
    claims = {c.id: c for c in state.claims}
    orders = {o.id: o for o in state.orders}
    problems = []
    for yes in yeses:
        if yes.kind == "claim":
            claim = claims.get(yes.id)
            if claim is None:
                problems.append(f"claim {yes.id} ({yes.sku}) is not on the server")
            elif (claim.sku, claim.fan_id) != (yes.sku, yes.fan_id):
                problems.append(
                    f"claim {yes.id}: told {yes.sku} for {yes.fan_id},"
                    f" recorded {claim.sku} for {claim.fan_id}"
                )
        else:
            order = orders.get(yes.id)
            if order is None:
                problems.append(f"order {yes.id} ({yes.sku}) is not on the server")
            elif (order.sku, order.claim_id) != (yes.sku, yes.claim_id):
                problems.append(
                    f"order {yes.id}: told {yes.sku} (claim {yes.claim_id}),"
                    f" recorded {order.sku} (claim {order.claim_id})"
                )
    kinds = Counter(y.kind for y in yeses)
    return Check(
        "every yes recorded",
        not problems,
        _some(problems)
        or f"{kinds['claim']} claims and {kinds['order']} orders told to clients, all recorded",
    )
