"""The dispatcher: sends the notifications outbox as e-mail, in the background.

Nothing a fan waits for awaits it: a claim, a payment or a page writes its notification in
its own transaction, and the write's commit rings the outbox's bell (`wake`). The
dispatcher then reads what is due in pages (`batch`), writes each page's letters from the
facts as they are now, has them laid out (`typeset.py`: in worker processes when the
server runs, so the sale's loop only writes the letters), and sends them over
`connections` sessions at once, each reused for message after message.

Each message's outcome is recorded as soon as it is known:

- accepted by the relay (250): `sent`, written within `RECORD_EVERY` (50 ms) with the
  outcomes of that moment in one commit. A crash in between is the one way a message goes
  twice, and both copies carry the same Message-ID (see docs/email.md, "once").
- deferred (4xx, or the connection broke during the message): `pending` again at a later
  time (`RetryPolicy`: exponential with jitter, capped), `failed` after the last try.
- refused (5xx for this recipient or content): `failed` at once.
- no longer true or useful when its turn came (`Obsolete`): `dropped`.
- the relay cannot be reached (down, login or sender refused): nothing is charged to the
  messages, which stay `pending`; the dispatcher waits (1 s, doubling to a minute) and
  tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.shop import Shop
from soldout.mail.compose import Composer
from soldout.mail.letter import Obsolete
from soldout.mail.retry import RetryPolicy
from soldout.mail.transport import (
    Connection,
    DeliveryError,
    Envelope,
    Refused,
    Transport,
    Unreachable,
)
from soldout.mail.typeset import Draft, LocalTypesetter, Typesetter
from soldout.store.ports import EmailOutcome, NotificationRepository, OutgoingEmail, ShopRepository

__all__ = ["Outbox", "Tally"]

log = logging.getLogger(__name__)

RELAY_BACKOFF_FIRST = 1.0  # seconds, doubling while the relay stays unreachable
RELAY_BACKOFF_CAP = 60.0
IDLE_CHECK = 60.0  # seconds between looks at the outbox when nothing is due and no bell
RECORD_EVERY = 0.05  # seconds an outcome may wait to be written with the next ones


@dataclass(slots=True)
class Tally:
    """What one pass did."""

    sent: int = 0
    deferred: int = 0
    failed: int = 0
    dropped: int = 0
    unreachable: str | None = None  # why the relay could not be reached, if it could not
    writes: list[asyncio.Future[None]] = field(default_factory=list, repr=False)


class Outbox:
    def __init__(
        self,
        notifications: NotificationRepository,
        shop: ShopRepository,
        transport: Transport,
        composer: Composer,
        clock: Clock,
        *,
        connections: int = 4,
        batch: int = 200,
        retry: RetryPolicy | None = None,
        reachable: Callable[[str], bool] = lambda fan_id: True,
        typesetter: Typesetter | None = None,
    ) -> None:
        self._notes = notifications
        self._typesetter = typesetter or LocalTypesetter()
        # whether a fan may still be written to (not erased since their page was read)
        self._reachable = reachable
        self._shop = shop
        self._transport = transport
        self._composer = composer
        self._clock = clock
        self._connections = connections
        self._batch = batch
        self._retry = retry or RetryPolicy()
        self._idle: list[Connection] = []
        self._outcomes: list[EmailOutcome] = []
        self._record_timer: asyncio.TimerHandle | None = None
        self._bell = asyncio.Event()
        self.idle = asyncio.Event()  # set while the loop sleeps with nothing due
        self._pass = asyncio.Lock()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # every pass's outcomes since the start, for /metrics
        self.totals = dict.fromkeys(("sent", "deferred", "failed", "dropped"), 0)
        notifications.on_email(self.wake)

    @property
    def transport(self) -> Transport:
        return self._transport

    def wake(self) -> None:
        """New e-mails are in the outbox (rung by the store after their commit)."""
        self._bell.set()

    # -- running -----------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self, grace: float = 5.0) -> None:
        """Finish the messages being sent (within `grace` seconds), then stop."""
        self._stopping = True
        self._bell.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close_all()
        await self._typesetter.close()

    async def run(self) -> None:
        """Send what is due, then sleep until the bell, the next retry, or the relay's
        backoff ends. Runs until `stop`."""
        backoff = RELAY_BACKOFF_FIRST
        while not self._stopping:
            self._bell.clear()
            try:
                tally = await self.send_due()
            except Exception:  # the store failed, say: keep the loop, log it, back off
                log.exception("sending e-mail failed; trying again in %.0f s", backoff)
                await asyncio.sleep(backoff)
                backoff = min(RELAY_BACKOFF_CAP, backoff * 2)
                continue
            if self._stopping:
                return
            if tally.unreachable is not None:
                log.warning(
                    "mail relay %s unreachable (%s); trying again in %.0f s",
                    self._transport.description,
                    tally.unreachable,
                    backoff,
                )
                await asyncio.sleep(backoff)  # the bell does not cut a relay's backoff short
                backoff = min(RELAY_BACKOFF_CAP, backoff * 2)
                continue
            backoff = RELAY_BACKOFF_FIRST
            await self._sleep(await self._wait())

    async def _wait(self) -> float:
        due = await self._notes.next_email_at()
        if due is None:
            return IDLE_CHECK
        return min(IDLE_CHECK, max(0.0, (due - self._clock.now()).total_seconds()))

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.idle.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bell.wait(), seconds)
        finally:
            self.idle.clear()

    # -- one pass ----------------------------------------------------------------------
    async def send_due(self) -> Tally:
        """Send every e-mail due now, a page at a time, until none is due, the relay is
        unreachable, or the outbox stops."""
        tally = Tally()
        async with self._pass:
            shop = await self._shop.get()
            try:
                while not self._stopping and tally.unreachable is None:
                    due = await self._notes.due_emails(self._clock.now(), self._batch)
                    if not due:
                        break
                    queue = deque(await self._prepare(due, shop, tally))
                    workers = min(self._connections, len(queue))
                    await asyncio.gather(*(self._work(queue, tally) for _ in range(workers)))
                    # Durable before the next page is read: a message is never read twice.
                    self._write_outcomes(tally)
                    await asyncio.gather(*tally.writes)
                    tally.writes.clear()
                    if len(due) < self._batch:
                        break
            finally:
                self._write_outcomes(tally)
                await asyncio.gather(*tally.writes, return_exceptions=True)
                await self._close_all()
        if tally.sent or tally.failed or tally.deferred:
            figures = {k: getattr(tally, k) for k in ("sent", "deferred", "failed", "dropped")}
            log.info(
                "e-mail: %s%s",
                ", ".join(f"{n} {k}" for k, n in figures.items()),
                f"; relay unreachable: {tally.unreachable}" if tally.unreachable else "",
                extra={"emails": figures, "relay_unreachable": tally.unreachable},
            )
        for outcome in ("sent", "deferred", "failed", "dropped"):
            self.totals[outcome] += getattr(tally, outcome)
        return tally

    async def _prepare(
        self, due: Sequence[OutgoingEmail], shop: Shop, tally: Tally
    ) -> list[tuple[OutgoingEmail, Envelope]]:
        """The page's letters written here, from the facts as they are now, then laid out
        all at once by the typesetter; what should not or cannot go is recorded."""
        drafts: list[tuple[OutgoingEmail, Draft]] = []
        for outgoing in due:
            # A turn for the sale between two letters: writing one never suspends.
            await asyncio.sleep(0)
            if not self._reachable(outgoing.notification.fan_id):
                self._record(tally, outgoing, "dropped", outgoing.attempts, "fan erased")
                tally.dropped += 1
                continue
            try:
                draft = await self._composer.draft(outgoing, shop, self._clock.now())
            except Obsolete as why:
                self._record(tally, outgoing, "dropped", outgoing.attempts, str(why))
                tally.dropped += 1
                continue
            except Exception as error:  # a bug or missing data: say so, do not loop
                log.exception("cannot write e-mail %s", outgoing.notification.id)
                self._record(tally, outgoing, "failed", outgoing.attempts, repr(error))
                tally.failed += 1
                continue
            drafts.append((outgoing, draft))
        laid = await self._typesetter.typeset([draft for _, draft in drafts])
        ready: list[tuple[OutgoingEmail, Envelope]] = []
        for (outgoing, _), envelope in zip(drafts, laid, strict=True):
            if isinstance(envelope, Envelope):
                ready.append((outgoing, envelope))
            else:
                self._record(tally, outgoing, "failed", outgoing.attempts, envelope)
                tally.failed += 1
        return ready

    async def _work(self, queue: deque[tuple[OutgoingEmail, Envelope]], tally: Tally) -> None:
        line = _Line(self._transport, self._idle.pop() if self._idle else None)
        try:
            while queue and tally.unreachable is None and not self._stopping:
                outgoing, envelope = queue.popleft()
                try:
                    await line.send(envelope)
                except Unreachable as down:
                    tally.unreachable = str(down)  # this message stays pending, uncharged
                    return
                except Refused as refused:
                    self._record(tally, outgoing, "failed", outgoing.attempts + 1, str(refused))
                    tally.failed += 1
                except DeliveryError as deferred:
                    self._defer(tally, outgoing, str(deferred))
                except Exception as error:  # the transport broke unexpectedly: as deferred
                    log.exception("sending e-mail %s", outgoing.notification.id)
                    self._defer(tally, outgoing, repr(error))
                else:
                    self._record(tally, outgoing, "sent", outgoing.attempts + 1, None)
                    tally.sent += 1
        finally:
            if line.connection is not None:
                self._idle.append(line.connection)

    async def _close_all(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await _close(connection)

    def _defer(self, tally: Tally, outgoing: OutgoingEmail, error: str) -> None:
        attempts = outgoing.attempts + 1
        now = self._clock.now()
        again = self._retry.next_try(attempts, now)
        if again is None:
            self._record(tally, outgoing, "failed", attempts, f"gave up after {attempts}: {error}")
            tally.failed += 1
        else:
            self._record(tally, outgoing, "pending", attempts, error, again)
            tally.deferred += 1

    def _record(
        self,
        tally: Tally,
        outgoing: OutgoingEmail,
        state: str,
        attempts: int,
        error: str | None,
        next_at: datetime | None = None,
    ) -> None:
        """Kept for at most `RECORD_EVERY`, then written with the others of that moment in
        one write (each write is a commit and an fsync on the event loop: one per message
        held the loop ~1 ms per message and halved the throughput)."""
        outcome = EmailOutcome(
            outgoing.notification.id, state, attempts, self._clock.now(), next_at, error
        )
        self._outcomes.append(outcome)
        if self._record_timer is None:
            loop = asyncio.get_running_loop()
            self._record_timer = loop.call_later(RECORD_EVERY, self._write_outcomes, tally)

    def _write_outcomes(self, tally: Tally) -> None:
        if self._record_timer is not None:
            self._record_timer.cancel()
            self._record_timer = None
        outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            tally.writes.append(self._notes.emails_done(outcomes))


class _Line:
    """One worker's session with the relay, opened when first needed and kept open."""

    def __init__(self, transport: Transport, connection: Connection | None) -> None:
        self._transport = transport
        self.connection = connection

    async def send(self, envelope: Envelope) -> None:
        """A reused session found dead before the message (the relay's idle timeout, a
        session used up) is replaced once; `Unreachable` from a new one is the relay's."""
        if self.connection is not None:
            try:
                await self._attempt(envelope)
                return
            except Unreachable:
                pass
        self.connection = await self._transport.open()
        await self._attempt(envelope)

    async def _attempt(self, envelope: Envelope) -> None:
        assert self.connection is not None
        try:
            await self.connection.send(envelope)
        except Refused:
            raise  # the session is fine (reset): only this message is refused
        except BaseException:
            connection, self.connection = self.connection, None
            await _close(connection)
            raise


async def _close(connection: Connection) -> None:
    with contextlib.suppress(Exception):
        await connection.close()
