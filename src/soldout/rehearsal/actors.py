"""What each simulated client does during the sale, over the real protocol.

A fan arrives (around the opening, some during the countdown), loads the launch page,
waits in the waiting room polling when the server says, presses after a human reaction
time, solves the proof of work when asked, and presses again a few times on `sold_out`.
If it wins it pays with the test card `tok_ok` after a delay, or never (the claim
expires). A bot comes early, polls the room fast, presses with no pause between answers
at its own rate (ignoring Retry-After) until it holds as many units as the launch lets
one account have, and pays at once. In a draw both enter before the opening and then
check their notifications for a win, backups included.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from soldout.rehearsal.checks import Yes
from soldout.rehearsal.client import Answer, Api, Exhausted
from soldout.rehearsal.log import Timeline
from soldout.rehearsal.plan import Participant
from soldout.rehearsal.scenario import LaunchSpec, Scenario
from soldout.rehearsal.solver import Solve

__all__ = ["Gates", "Sale", "take_part"]

API = "/api/v1"
AGAIN = frozenset({"sold_out", "not_open", "insufficient_stock"})  # worth another press
NEW_PROOF = frozenset({"pow_reused", "pow_expired"})
MAX_ROUNDS = 5  # one press: rate limits, a new proof or a new admission, then give up


@dataclass(frozen=True, slots=True)
class Gates:
    """What the launch asks of a buyer, as the server made it (a scenario may leave its
    protections to the server's defaults)."""

    waiting_room: bool
    proof_of_work: bool

    @classmethod
    def of_launch(cls, launch: dict[str, Any]) -> Gates:
        """From the launch as the server answered it."""
        return cls(bool(launch.get("waiting_room")), bool(launch.get("pow_difficulty")))

    @classmethod
    def of_spec(cls, spec: LaunchSpec) -> Gates:
        """From the scenario alone: what it sets explicitly."""
        return cls(bool(spec.waiting_room_rate), bool(spec.pow_difficulty))


@dataclass
class Sale:
    """What every client of one run shares."""

    api: Api
    scenario: Scenario
    launch_id: str
    timeline: Timeline
    solve: Solve
    run_id: str
    yeses: list[Yes]
    client_errors: list[str]
    gates: Gates | None = None  # None: as the scenario sets them

    def __post_init__(self) -> None:
        if self.gates is None:
            self.gates = Gates.of_spec(self.scenario.launch)


async def take_part(sale: Sale, person: Participant) -> None:
    """Run one participant's whole visit; the caps end it quietly."""
    visit = _Visit(sale, person)
    try:
        if sale.scenario.launch.mode == "draw":
            await visit.draw()
        elif person.actor == "fan":
            await visit.fan()
        else:
            await visit.bot()
    except Exhausted as stop:
        person.outcome = f"stopped ({stop})"
    except Exception as exc:  # a client bug must not end the run: count and report it
        person.outcome = "client error"
        sale.client_errors.append(f"{person.actor} {person.index}: {exc!r}")


class _Visit:
    def __init__(self, sale: Sale, person: Participant) -> None:
        self.sale, self.person = sale, person
        self.launch = sale.scenario.launch
        self.path = f"{API}/launches/{sale.launch_id}"
        self.is_bot = person.actor == "bot"
        spec = sale.scenario.bots if self.is_bot else sale.scenario.crowd
        self.patience = spec.patience_seconds
        self.presses = 0
        self.gates = sale.gates or Gates.of_spec(self.launch)
        self._solves = self.gates.proof_of_work and not (
            self.is_bot and not sale.scenario.bots.solve_pow
        )

    # -- helpers -----------------------------------------------------------------
    async def _call(self, kind: str, method: str, path: str, **kw: Any) -> Answer:
        p = self.person
        return await self.sale.api.call(
            kind, method, path, actor=p.actor, fan=p.fan_id, token=p.token, **kw
        )

    def _now(self) -> float:
        return self.sale.timeline.now()

    async def _until(self, t: float) -> None:
        delay = t - self._now()
        if delay > 0:
            await asyncio.sleep(delay)

    def _deadline(self) -> float:
        return max(self.person.arrival, 0.0) + self.patience

    # -- first come ----------------------------------------------------------------
    async def fan(self) -> None:
        p, crowd = self.person, self.sale.scenario.crowd
        await self._until(p.arrival)
        p.took_part = True
        await self._call("page", "GET", self.path)
        admission = None
        if self.gates.waiting_room:
            admission = await self._queue(poll_every=None)
            if admission is None:
                p.outcome = "left the waiting room"
                return
        else:
            await self._until(0.0)  # the countdown on the page
        await asyncio.sleep(p.reaction)
        while True:
            answer, admission = await self._press(admission)
            if answer.status in (200, 201):
                break
            again = answer.code in AGAIN and self.presses <= crowd.sold_out_retries
            if not again or self._now() + crowd.retry_pause_seconds > self._deadline():
                p.outcome = answer.code or f"http_{answer.status}"
                return
            await asyncio.sleep(crowd.retry_pause_seconds)
        claim = answer.data
        self._won(claim["id"])
        if p.abandons:
            p.outcome = "won, never paid"
            return
        await asyncio.sleep(p.pay_delay)
        await self._pay(claim["id"])

    async def bot(self) -> None:
        p, bots = self.person, self.sale.scenario.bots
        await self._until(p.arrival)
        p.took_part = True
        admission = None
        if self.gates.waiting_room:
            admission = await self._queue(poll_every=bots.poll_seconds)
            if admission is None:
                p.outcome = "left the waiting room"
                return
        pace = 1.0 / bots.requests_per_second
        payments = []
        p.outcome = "gave up"
        while len(p.claims) < self.launch.per_fan_limit and self._now() < self._deadline():
            answer, admission = await self._press(admission)
            if answer.status in (200, 201):
                self._won(answer.data["id"])
                payments.append(asyncio.create_task(self._pay(answer.data["id"])))
                continue
            if answer.code not in AGAIN and answer.status != 429:
                p.outcome = answer.code or f"http_{answer.status}"
                break
            await asyncio.sleep(pace)
        for result in await asyncio.gather(*payments, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    async def _queue(self, poll_every: float | None) -> str | None:
        """Join the waiting room and poll until admitted: the admission token, or None."""
        answer = await self._call("join", "POST", f"{self.path}/waiting-room")
        while answer.ok:
            room = answer.data
            if room["state"] == "admitted" and room["admission_token"]:
                token: str = room["admission_token"]
                return token
            wait = poll_every if poll_every is not None else float(room["poll_after_seconds"])
            if self._now() + wait > self._deadline():
                return None
            await asyncio.sleep(wait)
            answer = await self._call("poll", "GET", f"{self.path}/waiting-room")
            if answer.ok and answer.data["state"] == "not_in_room":
                answer = await self._call("join", "POST", f"{self.path}/waiting-room")
        return None

    async def _press(self, admission: str | None) -> tuple[Answer, str | None]:
        """One press of the buy button: a new Idempotency-Key, the gate's headers, and the
        same key again after a rate limit, a spent proof or an expired admission."""
        p = self.person
        self.presses += 1
        headers = {"Idempotency-Key": f"{self.sale.run_id}-{p.index}-{self.presses}"}
        answer = Answer(0, "not_sent", None)
        for _ in range(MAX_ROUNDS):
            if admission is not None:
                headers["Admission-Token"] = admission
            if self._solves and "Proof-Of-Work" not in headers:
                proof = await self._proof()
                if proof is None:
                    return Answer(0, "no_challenge", None), admission
                headers["Proof-Of-Work"] = proof
            answer = await self._call(
                "claim",
                "POST",
                f"{self.path}/claims",
                json={"sku": p.sku},
                headers=headers,
                sku=p.sku,
            )
            if answer.status == 429:
                wait = 1.0 / self.sale.scenario.bots.requests_per_second
                await asyncio.sleep(wait if self.is_bot else answer.retry_after or 1.0)
            elif answer.code in NEW_PROOF:
                headers.pop("Proof-Of-Work", None)
            elif answer.code == "admission_expired":
                admission = await self._queue(poll_every=None)
                if admission is None:
                    return answer, None
            else:
                return answer, admission
        return answer, admission

    async def _proof(self) -> str | None:
        answer = await self._call("challenge", "POST", f"{self.path}/challenge")
        if not answer.ok:
            return None
        token, difficulty = answer.data["token"], answer.data["difficulty"]
        nonce = await self.sale.solve(token, difficulty, self.person.actor)
        return f"{token}:{nonce}"

    def _won(self, claim_id: str) -> None:
        p = self.person
        p.claims.append(claim_id)
        p.outcome = "won"
        self.sale.yeses.append(Yes("claim", claim_id, p.sku, p.fan_id))

    async def _pay(self, claim_id: str) -> None:
        p = self.person
        answer = await self._call(
            "pay",
            "POST",
            f"{API}/claims/{claim_id}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={"Idempotency-Key": f"{self.sale.run_id}-{p.index}-pay-{claim_id}"},
            sku=p.sku,
        )
        order_id = answer.data["id"] if answer.status == 200 else None
        deadline = self._now() + self.patience
        while answer.status == 202 and order_id is None and self._now() < deadline:
            await asyncio.sleep(0.5)
            status = await self._call("claim_status", "GET", f"{API}/claims/{claim_id}")
            order_id = status.data["order_id"] if status.ok else None
        if order_id is None:
            p.outcome = f"payment {answer.code or answer.status}"
            return
        p.orders.append(order_id)
        p.outcome = "paid"
        self.sale.yeses.append(Yes("order", order_id, p.sku, p.fan_id, claim_id))

    # -- draw ------------------------------------------------------------------------
    async def draw(self) -> None:
        """Entered before the opening (or not); after it, check for a win until patience
        runs out (a backup may be served when a winner's unit comes back)."""
        p = self.person
        if p.reservation_id is None:
            p.outcome = "no entry"
            return
        await self._until(max(p.arrival, 0.5))
        p.took_part = True
        spec = self.sale.scenario.bots if self.is_bot else self.sale.scenario.crowd
        every = spec.poll_seconds
        claim_id = None
        while True:
            answer = await self._call("notifications", "GET", f"{API}/me/notifications?limit=20")
            claim_id = _draw_win(answer, self.sale.launch_id) if answer.ok else None
            if claim_id is not None or self._now() + every > self._deadline():
                break
            await asyncio.sleep(every)
        if claim_id is None:
            p.outcome = "not drawn"
            return
        self._won(claim_id)
        if p.abandons:
            p.outcome = "won, never paid"
            return
        await asyncio.sleep(p.pay_delay)
        await self._pay(claim_id)


def _draw_win(answer: Answer, launch_id: str) -> str | None:
    """The claim id of a `draw_won` notification for this launch, if there is one."""
    for note in answer.data or []:
        data = note.get("data") or {}
        if note.get("kind") == "draw_won" and data.get("launch_id") == launch_id:
            claim_id: str = data["claim_id"]
            return claim_id
    return None
