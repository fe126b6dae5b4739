"""The running platform: one store, one engine, the services, the expiry sweeper and the
check of pending payments."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from soldout.clock import Clock, SystemClock
from soldout.domain.audit import AuditEntry
from soldout.domain.claims import Order
from soldout.domain.duplicates import DuplicateRule
from soldout.domain.fans import Fan
from soldout.domain.referrals import ReferralPolicy
from soldout.engine import SaleEngine
from soldout.engine.allocator import Allocator
from soldout.engine.book import LaunchBook
from soldout.engine.book_allocator import BookAllocator
from soldout.engine.pending_payments import CheckSchedule, PendingPaymentCheck
from soldout.mail import MailSettings
from soldout.metrics import Metrics
from soldout.payments import PaymentProvider, TestPayments
from soldout.payments.configured import ProviderSetup
from soldout.payments.metered import MeteredProvider
from soldout.services.admissions import AdmissionNotices
from soldout.services.board import Board
from soldout.services.board_moderation import Moderation
from soldout.services.board_news import BoardNews
from soldout.services.board_state import BoardState
from soldout.services.catalog import Catalog
from soldout.services.fans import Fans
from soldout.services.fulfilment import FulfilmentDesk
from soldout.services.gate import Gate, GateSettings
from soldout.services.metered import watch
from soldout.services.passwords import Passwords
from soldout.services.referrals import Referrals
from soldout.services.rehearsals import Rehearsals
from soldout.services.reminders import Reminders
from soldout.services.sessions import Sessions
from soldout.services.sold_out_news import SoldOutNews
from soldout.services.team import Team
from soldout.services.throttle import Throttle, ThrottleSettings
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
        *,
        payment_timeout: float = 10.0,
        referral_policy: ReferralPolicy | None = None,
        gate: GateSettings | None = None,
        public_url: str | None = None,
        mail: MailSettings | None = None,
        payment_setup: ProviderSetup | None = None,
        payment_checks: CheckSchedule | None = None,
        throttle: ThrottleSettings | None = None,
        passwords: Passwords | None = None,
        metrics: Metrics | None = None,
        allocator: Callable[[Mapping[str, LaunchBook]], Allocator] = BookAllocator,
    ) -> None:
        self.store = store
        self.metrics = metrics or Metrics()  # what /metrics serves (soldout.metrics)
        # Where fans reach the shop: links in e-mails and share previews start with it.
        # `soldout serve` always gives one; None only for platforms made in tests.
        self.public_url = public_url.rstrip("/") if public_url else None
        self.tokens = tokens
        self.clock = clock or SystemClock()
        tokens.use_clock(self.clock)  # a fan's token expires by the platform's time
        self.payments = MeteredProvider(
            payments or TestPayments(secret=b"in-memory test provider", clock=self.clock),
            self.metrics.payment,
        )
        self.payment_setup = payment_setup or ProviderSetup(self.payments.name, (), None)
        self.engine = SaleEngine(
            store, self.clock, self.payments, payment_timeout=payment_timeout, allocator=allocator
        )
        self.payments.on_webhook(self._deliver)
        # payments still pending a while later (a lost webhook) are asked about; a fan
        # paying again is told when
        checks = payment_checks or CheckSchedule()
        self.payment_checks = PendingPaymentCheck(self.engine.checkout, self.clock, checks)
        self.engine.checkout.checks = checks
        if self.public_url is not None:  # where a hosted payment page sends the fan back
            base = self.public_url
            # sealed: only the provider's page, which soldout gave the address, can say
            # the fan cancelled there (another site's link to it closes no payment page)
            self.engine.checkout.return_to = lambda claim_id, payment_id: (
                f"{base}/claims/{claim_id}/back?payment={payment_id}"
                f"&seal={tokens.seal(f'back:{payment_id}')}"
            )
        self.catalog = Catalog(store, self.engine, self.clock)
        self.fans = Fans(store, self.clock, tokens, self.engine)
        # who is signed in where, and the maker's team (docs/security.md)
        self.sessions = Sessions(store.sessions, self.clock, tokens)
        self.throttle = Throttle(self.clock, throttle)
        self.team = Team(
            store.team,
            store.audit,
            self.sessions,
            tokens,
            passwords or Passwords(),
            self.throttle,
            self.clock,
        )
        self.engine.maker_news.recipients = self.team.news_recipients  # the maker's e-mails
        self.fulfilment = FulfilmentDesk(store, self.engine, self._not_shipping_now)
        self.referrals = Referrals(store, self.engine, referral_policy or ReferralPolicy())
        self.fans.on_register(self.referrals.registered)
        # what fans ask for and the maker ships (docs/ideas.md); taking part earns points
        self.board = Board(store, self.clock, BoardState(), announced=self.catalog.announced)
        self.board_news = BoardNews(store, self.clock, self.board, self.engine)
        self.moderation = Moderation(self.board)
        self.referrals.contribution = lambda fan_id: self.board.state.points().get(fan_id, 0)
        self.gate = Gate(store, self.engine, self.clock, gate or GateSettings())
        self.fans.on_register(self.gate.registered)
        self.fans.on_register(self._cancel_duplicates)
        # a fan who gives (or changes) a shipping address later is checked the same way
        self.fans.on_contact(self.gate.contact_changed)
        self.fans.on_contact(self._cancel_duplicates)
        self.fans.check_entries_with(self.gate.check_entry)
        # what a rehearsal run makes up, kept apart and removed whole (docs/rehearsal.md)
        self.rehearsals = Rehearsals(
            store,
            self.engine,
            self.catalog,
            self.fans,
            self.payments,
            forgetters=[
                lambda run, launches, fans, orders: self.gate.forget(run, launches),
                lambda run, launches, fans, orders: self.referrals.forget(fans, orders),
            ],
        )
        # e-mail (docs/email.md): reminders and admission notices are notifications; the
        # outbox mails every notification (without `mail`, they are shown in-app only)
        self.reminders = Reminders.of(self.engine, store.notifications, self.clock, mail)
        self.gate.on_admitted = AdmissionNotices(store.notifications).admitted
        news = self.engine.maker_news
        self.sold_out_news = SoldOutNews(self.engine, store.notifications, self.clock, news)
        self.outbox = (
            mail.outbox(store, self.engine, self.clock, lambda fan: not tokens.revoked(fan))
            if mail
            else None
        )
        watch(self.metrics, store, self.engine, self.gate, self.outbox, self.clock)
        self._mailing: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[None] | None = None
        self._telling: asyncio.Task[None] | None = None  # "sold out", to the team
        self.resumed_payments = 0  # payments settled with the provider at the last start
        self.demo = False  # `soldout demo`: sign-in links are shown on screen, not mailed

    def _cancel_duplicates(self, fan: Fan) -> None:
        """A new account made a group of duplicate buyers: in launches whose rule is
        `cancel`, the group's held claims are released and unshipped orders refunded."""
        if not (fan.address or fan.phone):
            return
        for book in self.engine.books():
            if book.launch.rules.duplicate_rule is not DuplicateRule.CANCEL:
                continue
            if not self.gate.flagged(book, fan.id):
                continue
            group = self.gate.group_of(book, fan.id)
            self.engine.in_background(self._cancel_group(book.launch.id, group))

    async def _cancel_group(self, launch_id: str, fans: set[str]) -> None:
        reason = "cancelled: several accounts share one address or phone"
        for claim in await self.engine.claims_of_launch(launch_id):
            if claim.fan_id in fans and claim.is_held:
                await self.engine.cancel(claim.fan_id, claim.id)
        for order in await self.engine.orders_of_launch(launch_id):
            if order.fan_id in fans and order.in_queue:
                await self.engine.refund_order(order, reason)

    def _not_shipping_now(self, order: Order) -> bool:
        """Held for review as a duplicate buyer, or busy with a refund this instant."""
        return self._held_for_review(order) or self.engine.checkout.busy(order.claim_id)

    def _held_for_review(self, order: Order) -> bool:
        book = self.engine.book(order.launch_id)
        rule = book.launch.rules.duplicate_rule
        return rule is DuplicateRule.HOLD and self.gate.flagged(book, order.fan_id)

    async def audit(
        self, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Record an admin action in the audit log (durably, before the answer)."""
        entry = AuditEntry(self.clock.now(), actor, action, subject, detail or {})
        await self.store.audit.add(entry)

    async def _deliver(self, body: bytes, headers: Mapping[str, str]) -> None:
        """How an in-process provider (the test one) posts its webhooks."""
        await self.engine.checkout.webhook(body, headers)

    async def start(self, *, sweep: bool = True) -> None:
        await self.store.open()
        if not self.tokens.has_secret:
            self.tokens.use_secret(await self.store.secret("token-signing"))
        for fan_id in await self.store.fans.erased():
            self.tokens.revoke(fan_id)
        await self.sessions.load()
        await self.team.load()
        await self.engine.load()
        await self.referrals.load()
        await self.board.load()
        await self.gate.load()
        # when the provider's webhooks last reached the shop (the admin shows it)
        checkout = self.engine.checkout
        checkout.webhook_heard_at = await self.store.payments.last_event_at(self.payments.name)
        # payments left pending by a stop: the provider may hold money for an unwritten order
        self.resumed_payments = await self.payment_checks.settle_all()
        await self.reminders.load()
        await self.sold_out_news.load()
        if sweep:
            self._sweeper = asyncio.get_running_loop().create_task(self.engine.run_sweeper())
            self._checking = asyncio.get_running_loop().create_task(self.payment_checks.run())
            self._mailing = asyncio.get_running_loop().create_task(self.reminders.run())
            self._telling = asyncio.get_running_loop().create_task(self.sold_out_news.run())
            if self.outbox is not None:
                self.outbox.start()

    async def stop(self) -> None:
        try:
            if self._mailing is not None:
                self._mailing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._mailing
            if self.outbox is not None:
                await self.outbox.stop()  # the messages being sent finish first
            for task in (self._sweeper, self._checking, self._telling):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self.engine.ship_news.stop()
            await self.payments.close()
        finally:
            await self.store.close()
