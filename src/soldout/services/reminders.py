"""Reminders nobody asked for at the moment they go: "the sale opens in 10 minutes" to
every fan who reserved, and "your claim expires in 5 minutes" to a fan who has not paid.

Both are notifications like any other (shown in-app, mailed by the outbox). What makes
them reminders is when they are written, and that each is written once:

- **the opening**: once per launch *and opening time* (key `opening:LAUNCH:TIME`), to
  the launch's reservations in the order they were made, in chunks of `chunk`; each
  chunk's notifications are written in one transaction with how far the reminder got
  (the last reservation's time and id), so a restart resumes after the last fan told,
  never telling anyone twice. A maker who moves the opening makes a new key: fans are
  reminded of the new time. A fan who reserves during the last minutes is reminded too,
  down to `MIN_AHEAD` before the opening (to half the lead, for a lead under two minutes).
- **a held claim**: once per claim (key `claim:ID`), `claim_lead` before its window ends,
  if it is still held then, and only if the window is at least twice the lead (a
  10-minute window gets a reminder at 5 minutes left; a 2-minute one none).

Rehearsal launches get none (their fans are never mailed anyway).

    reminders = Reminders(engine, store.notifications, clock, opening_lead=timedelta(minutes=10))
    await reminders.load()
    await reminders.step()   # what is due now; `run()` loops on it
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import operator
from datetime import datetime, timedelta

from soldout.clock import Clock
from soldout.domain.claims import Claim, ClaimState
from soldout.domain.fans import Reservation
from soldout.domain.launches import Launch
from soldout.domain.notifications import Notification
from soldout.engine import SaleEngine
from soldout.engine.book import LaunchBook
from soldout.ids import new_id
from soldout.mail import MailSettings
from soldout.store.ports import NotificationRepository

__all__ = ["MIN_AHEAD", "Reminders"]

log = logging.getLogger(__name__)

MIN_AHEAD = timedelta(minutes=1)  # closer than this, a reminder would arrive too late
CLAIM_MIN_AHEAD = timedelta(seconds=30)
MAX_SLEEP = 15.0  # seconds: how late a claim's reminder may be


class Reminders:
    def __init__(
        self,
        engine: SaleEngine,
        notifications: NotificationRepository,
        clock: Clock,
        *,
        opening_lead: timedelta = timedelta(minutes=10),
        claim_lead: timedelta = timedelta(minutes=5),
        chunk: int = 1_000,
    ) -> None:
        self._engine = engine
        self._notes = notifications
        self._clock = clock
        self.opening_lead = opening_lead
        self.claim_lead = claim_lead
        self._chunk = chunk
        self._progress: dict[str, str] = {}
        self._reminded: set[str] = set()  # claims reminded (their key is `claim:ID`)
        self._walked: dict[str, datetime] = {}  # launch -> when its last claim looked at was made
        self._cursor: dict[str, int] = {}  # opening key -> reservations looked at so far

    @classmethod
    def of(
        cls,
        engine: SaleEngine,
        notifications: NotificationRepository,
        clock: Clock,
        mail: MailSettings | None,
    ) -> Reminders:
        """With the leads of `mail`, or the defaults without e-mail (shown in-app)."""
        if mail is None:
            return cls(engine, notifications, clock)
        return cls(
            engine,
            notifications,
            clock,
            opening_lead=mail.opening_lead,
            claim_lead=mail.claim_lead,
        )

    async def load(self) -> None:
        self._progress = await self._notes.reminders()
        self._reminded = {k.removeprefix("claim:") for k in self._progress if k[:6] == "claim:"}

    async def run(self) -> None:
        """`step` whenever something may be due, until cancelled."""
        while True:
            try:
                await self.step()
            except Exception:  # the store failed, say: keep the loop, log it
                log.exception("writing reminders failed")
            await asyncio.sleep(self._sleep())

    def _sleep(self) -> float:
        now = self._clock.now()
        ahead = [
            b.launch.sale_opens_at - self.opening_lead - now
            for b in self._engine.books()
            if b.launch.sale_opens_at - self.opening_lead > now
        ]
        soonest = min(ahead, default=timedelta(seconds=MAX_SLEEP)).total_seconds()
        return max(0.05, min(MAX_SLEEP, soonest))

    async def step(self) -> int:
        """Write every reminder due now; return how many notifications were written."""
        written = 0
        if self.opening_lead > timedelta(0):
            for book in self._engine.books():
                written += await self._opening(book)
        if self.claim_lead > timedelta(0):
            written += await self._claims()
        return written

    # -- the opening ---------------------------------------------------------------------
    async def _opening(self, book: LaunchBook) -> int:
        launch, now = book.launch, self._clock.now()
        if not _for_fans(launch) or not book.reservations:
            return 0
        opens = launch.sale_opens_at
        # (a lead shorter than twice MIN_AHEAD still has half of it to send in)
        if not opens - self.opening_lead <= now < opens - min(MIN_AHEAD, self.opening_lead / 2):
            return 0
        key = f"opening:{launch.id}:{opens.isoformat()}"
        entered = book.entered  # in the order made, appended only
        start = self._cursor.get(key)
        if start is None:  # first look since start-up: on from the mark the record keeps
            after = _unmark(self._progress.get(key))
            start = 0 if after is None else bisect.bisect_right(entered, after, key=_PLACE)
        if start >= len(entered):
            return 0  # nobody reserved since the last look
        todo = [r for r in entered[start:] if book.reservations.get(r.fan_id) is r]
        for start in range(0, len(todo), self._chunk):
            chunk = todo[start : start + self._chunk]
            now = self._clock.now()
            notes = [_opening_note(launch, r.fan_id, now) for r in chunk]
            mark = _mark(_place(chunk[-1]))
            # One write: the chunk and how far it got commit together, or neither does.
            await asyncio.shield(self._notes.remember({key: mark}, notes, now))
            self._progress[key] = mark
        self._cursor[key] = len(entered)
        if todo:
            log.info("reminded %d fans that %s opens at %s", len(todo), launch.id, opens)
        return len(todo)

    # -- held claims ---------------------------------------------------------------------
    async def _claims(self) -> int:
        now = self._clock.now()
        due: list[Claim] = []
        for book in self._engine.books():
            due += self._due_in(book, now)
        for start in range(0, len(due), self._chunk):  # a transaction each, yielding between
            chunk = due[start : start + self._chunk]
            progress = {f"claim:{c.id}": "sent" for c in chunk}
            notes = [_claim_note(c, now) for c in chunk]
            await asyncio.shield(self._notes.remember(progress, notes, now))
            self._reminded.update(c.id for c in chunk)
        return len(due)

    def _due_in(self, book: LaunchBook, now: datetime) -> list[Claim]:
        """The launch's claims whose reminder is due, walking its claims in the order they
        were made from where the last look stopped: a claim made later is due later (one
        payment window per launch), so each claim is looked at about once, not at every
        look (a check of every held claim cost 3 us each: 1.5 s for 500,000)."""
        launch = book.launch
        window = timedelta(seconds=launch.rules.payment_window_seconds)
        if not _for_fans(launch) or window < 2 * self.claim_lead:
            return []  # too short a window for a reminder to help
        if not book.claim_states.get(ClaimState.HELD):
            return []
        if now < launch.sale_opens_at + window - self.claim_lead:
            return []  # no claim of this launch can be due yet
        claims = self._engine.ledger.made(launch.id)  # in the order made; not a copy
        walked = self._walked.get(launch.id)
        start = 0 if walked is None else bisect.bisect_left(claims, walked, key=_MADE)
        due, end = [], start
        for claim in itertools.islice(claims, start, None):
            if claim.expires_at - self.claim_lead > now:
                break  # this one, and (nearly) all made after it, are not due yet
            end += 1
            fresh = (
                claim.is_held
                and claim.id not in self._reminded
                and self._engine.ledger.recorded(claim)
            )
            if fresh and claim.expires_at - now >= CLAIM_MIN_AHEAD:
                due.append(claim)
        if end > start:
            self._walked[launch.id] = claims[end - 1].created_at
        return due


def _for_fans(launch: Launch) -> bool:
    return launch.published and launch.cancelled_at is None and launch.rehearsal is None


_PLACE = operator.attrgetter("created_at", "id")  # a reservation's place in the order made
_MADE = operator.attrgetter("created_at")


def _place(reservation: Reservation) -> tuple[datetime, str]:
    return (reservation.created_at, reservation.id)


def _mark(place: tuple[datetime, str]) -> str:
    return f"{place[0].isoformat()}|{place[1]}"


def _unmark(mark: str | None) -> tuple[datetime, str] | None:
    if not mark:
        return None
    with contextlib.suppress(ValueError):
        at, _, reservation_id = mark.partition("|")
        return (datetime.fromisoformat(at), reservation_id)
    return None


def _opening_note(launch: Launch, fan_id: str, now: datetime) -> Notification:
    minutes = max(1, round((launch.sale_opens_at - now).total_seconds() / 60))
    what = "The draw for" if launch.is_draw else "The sale of"
    return Notification(
        new_id("ntf"),
        fan_id,
        "sale_opening",
        f"{what} {launch.title!r} starts in {minutes} minutes, at"
        f" {launch.sale_opens_at:%Y-%m-%d %H:%M} UTC.",
        now,
        {
            "launch_id": launch.id,
            "sale_opens_at": launch.sale_opens_at.isoformat(),
            "draw": launch.is_draw,
        },
    )


def _claim_note(claim: Claim, now: datetime) -> Notification:
    minutes = max(1, int((claim.expires_at - now).total_seconds() // 60))
    return Notification(
        new_id("ntf"),
        claim.fan_id,
        "claim_expiring",
        f"Your {claim.sku} is held for {minutes} more minutes, until"
        f" {claim.expires_at:%Y-%m-%d %H:%M} UTC: pay to make it yours.",
        now,
        {
            "claim_id": claim.id,
            "launch_id": claim.launch_id,
            "sku": claim.sku,
            "expires_at": claim.expires_at.isoformat(),
        },
    )
