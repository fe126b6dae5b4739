"""Before the sale: the product and launch (admin token), then the crowd registers and,
where the launch asks for it, reserves.

Everything is made through the server's rehearsal API (`/api/v1/rehearsals/RUN/...`,
admin token), so the product, the fans and the launch carry the run's id: the server
keeps them apart from its real shop and removes them on request (docs/rehearsal.md).

The launch is created once everyone is registered, opening after the scenario's
countdown plus the time the reservations should take at the rate registration ran:
a draw's opening cannot be moved once it is scheduled.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from soldout.rehearsal.client import Answer, Api
from soldout.rehearsal.log import Timeline
from soldout.rehearsal.plan import Participant
from soldout.rehearsal.scenario import Scenario

__all__ = ["RehearsalError", "Stage", "for_each", "prepare"]

T = TypeVar("T")
API = "/api/v1"


class RehearsalError(Exception):
    """The rehearsal could not run (the server refused its setup, or could not start)."""


@dataclass(frozen=True, slots=True)
class Stage:
    launch_id: str
    product_id: str
    sale_opens_at: str  # ISO, the server's clock
    setup_seconds: float
    reservations_late: int  # reservations still being made when the sale opened
    launch: dict[str, Any] = field(default_factory=dict)  # as the server made it: its rules


async def for_each(
    items: Sequence[T], work: Callable[[T], Awaitable[None]], concurrency: int
) -> None:
    """`work` on every item, at most `concurrency` at a time; the first error stops all."""
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await work(item)

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(items)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise


def _require(answer: Answer, what: str, *statuses: int) -> Any:
    if answer.status not in statuses:
        detail = answer.code or answer.status
        raise RehearsalError(f"{what}: the server answered {answer.status} ({detail})")
    return answer.data


async def prepare(
    api: Api,
    admin_token: str,
    scenario: Scenario,
    people: Sequence[Participant],
    timeline: Timeline,
    concurrency: int,
    run_id: str,
) -> Stage:
    started = time.monotonic()
    here = f"{API}/rehearsals/{run_id}"
    launch = scenario.launch
    skus = [
        {
            "code": s.code,
            "name": s.name or s.code,
            "price": s.price,
            "currency": s.currency,
            **({} if s.cost is None else {"cost": s.cost}),  # (left out: not given)
        }
        for s in launch.skus
    ]
    product = _require(
        await api.call(
            "setup",
            "POST",
            f"{here}/products",
            actor="setup",
            token=admin_token,
            json={"name": launch.product, "skus": skus},
        ),
        "creating the product",
        201,
    )
    registered_at = time.monotonic()
    await _register(api, people, concurrency, here, admin_token)
    rate = len(people) / max(time.monotonic() - registered_at, 1e-3)
    reservers = [p for p in people if p.reserves]
    lead = launch.opens_in_seconds + (len(reservers) / rate * 1.5 + 1.0 if reservers else 0.0)
    body: dict[str, Any] = {
        "product_id": product["id"],
        "title": launch.title,
        "sale_opens_at": (datetime.now(UTC) + timedelta(seconds=lead)).isoformat(),
        "mode": launch.mode,
        "per_fan_limit": launch.per_fan_limit,
        "payment_window_seconds": launch.payment_window_seconds,
        "reservation_required": launch.reservation_required,
        "batch": {s.code: s.batch for s in launch.skus},
        "duplicate_limit": launch.duplicate_limit,
        **launch.protections(),  # the rest: the server's defaults, as for a real launch
    }
    created = _require(
        await api.call(
            "setup", "POST", f"{here}/launches", actor="setup", token=admin_token, json=body
        ),
        "creating the launch",
        201,
    )
    opens = datetime.fromisoformat(created["sale_opens_at"])
    timeline.open_at((opens - datetime.fromisoformat(created["server_time"])).total_seconds())
    draw = launch.mode == "draw"

    async def reserve(person: Participant) -> None:
        answer = await api.call(
            "reserve",
            "POST",
            f"{API}/launches/{created['id']}/reservations",
            actor=person.actor,
            fan=person.fan_id,
            token=person.token,
            json={"sku": person.sku} if draw else None,
            sku=person.sku if draw else None,
        )
        if answer.status in (200, 201):
            person.reservation_id = answer.data["id"]

    await for_each(reservers, reserve, concurrency)
    late = sum(1 for p in reservers if p.reservation_id is None)
    return Stage(
        created["id"],
        product["id"],
        created["sale_opens_at"],
        time.monotonic() - started,
        late,
        created,
    )


async def _register(
    api: Api, people: Sequence[Participant], concurrency: int, here: str, admin_token: str
) -> None:
    """Everyone registers as a fan of the run (with the admin token: only the admin can
    make a rehearsal's fans)."""
    codes: list[str] = []
    chooser = random.Random(len(people))

    async def register(person: Participant) -> None:
        body: dict[str, Any] = {"email": person.email, "name": f"{person.actor} {person.index}"}
        if person.address:
            body["address"] = person.address
        if person.referred and codes:
            body["referral_code"] = chooser.choice(codes)
        for attempt in range(3):
            answer = await api.call(
                "register",
                "POST",
                f"{here}/fans",
                actor=person.actor,
                token=admin_token,
                json=body,
            )
            if answer.status == 409 and answer.code == "email_taken":  # an answer was lost
                body["email"] = f"retry{attempt}.{person.email}"
                continue
            data = _require(answer, f"registering {person.email}", 201)
            person.fan_id, person.token = data["id"], data["token"]
            person.referral_code = data["referral_code"]
            if person.actor == "fan" and not person.referred:
                codes.append(person.referral_code)
            return
        raise RehearsalError(f"registering {person.email}: the e-mail is taken")

    first = [p for p in people if not p.referred]
    await for_each(first, register, concurrency)
    await for_each([p for p in people if p.referred], register, concurrency)
