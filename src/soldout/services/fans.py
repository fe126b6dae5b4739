"""Use cases of the fan: register, reserve, see orders."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from soldout.clock import Clock
from soldout.domain.addresses import ShippingAddress
from soldout.domain.claims import Claim, Order, OrderEvent, OrderStatus
from soldout.domain.duplicates import same_buyer
from soldout.domain.errors import (
    ClaimExpired,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
)
from soldout.domain.fans import Fan, Reservation, normalise_email
from soldout.domain.notifications import Notification
from soldout.domain.rehearsals import REHEARSAL_FAN_PREFIX, is_rehearsal_fan
from soldout.domain.text import check_text
from soldout.engine import SaleEngine
from soldout.engine.book import LaunchBook
from soldout.engine.forget import forget_fan
from soldout.engine.maker_news import FAN_CANCELLED
from soldout.i18n import valid_zone
from soldout.ids import new_id, new_referral_code
from soldout.services.tokens import TokenSigner
from soldout.store.ports import Store

__all__ = ["EXPORT_EVERY", "MAX_FAN_NAME", "Fans"]

EXPORT_EVERY = 10  # seconds between two exports of one fan's data
MAX_FAN_NAME = 200


MAILBOX_ONLY = frozenset({"sign_in_link"})  # notifications never shown to the account


class Fans:
    def __init__(self, store: Store, clock: Clock, tokens: TokenSigner, engine: SaleEngine) -> None:
        self._store = store
        self._clock = clock
        self._tokens = tokens
        self._engine = engine
        self._registered: list[Callable[[Fan], None]] = []
        self._contact: list[Callable[[Fan], None]] = []
        self._exported: dict[str, datetime] = {}  # fan -> when their data was last exported
        self._entry_check: Callable[[LaunchBook, str], None] | None = None

    def check_entries_with(self, check: Callable[[LaunchBook, str], None]) -> None:
        """`check(book, fan_id)` raises if the fan may not reserve (enter a draw)."""
        self._entry_check = check

    def on_register(self, listener: Callable[[Fan], None]) -> None:
        self._registered.append(listener)

    def on_contact(self, listener: Callable[[Fan], None]) -> None:
        """`listener(fan)` after a fan gives or changes their shipping address."""
        self._contact.append(listener)

    async def register(
        self,
        email: str,
        name: str,
        referral_code: str | None = None,
        address: str | None = None,
        phone: str | None = None,
        *,
        shipping: Mapping[str, Any] | None = None,
        locale: str | None = None,
        time_zone: str | None = None,
        rehearsal: str | None = None,
    ) -> tuple[Fan, str]:
        """Create a fan and return it with its bearer token. `shipping` (checked, see
        `ShippingAddress.parse`) also gives the address and phone the duplicate check reads.
        `time_zone`: an IANA zone's name, for the times in the fan's e-mails.
        `rehearsal`: a fan made up by that rehearsal run (the admin's rehearsal API only),
        who sees only that run's launches and is referred only by that run's fans."""
        email = normalise_email(email)
        name = check_text(name, field="name", limit=MAX_FAN_NAME, label="a name")
        address = check_text(address or "", field="address", limit=500, required=False) or None
        phone = check_text(phone or "", field="phone", limit=40, required=False) or None
        ship_to = ShippingAddress.parse(shipping) if shipping is not None else None
        if time_zone is not None and valid_zone(time_zone) is None:
            raise InvalidInput(
                f"{time_zone!r} is not an IANA time zone (such as 'Europe/Amsterdam')",
                field="time_zone",
                code="unknown_time_zone",
            )
        if ship_to is not None:
            address, phone = ship_to.one_line(), ship_to.phone
        referrer = None
        if referral_code:
            referrer = await self._store.fans.by_referral_code(referral_code)
            if referrer is None or referrer.rehearsal != rehearsal:  # (rehearsals apart)
                raise InvalidInput("no fan has this referral code", field="referral_code")
            if same_buyer(address, phone, referrer.address, referrer.phone):
                # A second account of the referrer's own: no points for referring oneself.
                raise Conflict(
                    "a fan cannot refer themselves: this account has the referrer's address"
                    " or phone",
                    field="referral_code",
                ).with_code("self_referral")
        fan = Fan(
            id=new_id("fan" if rehearsal is None else REHEARSAL_FAN_PREFIX),
            email=email,
            name=name,
            referral_code=new_referral_code(),
            referred_by=referrer.id if referrer else None,
            created_at=self._clock.now(),
            address=address,
            phone=phone,
            shipping=ship_to,
            locale=locale,
            time_zone=time_zone,
            rehearsal=rehearsal,
        )
        await self._store.fans.add(fan)
        if rehearsal is not None:
            self._engine.rehearsals.mark(fan.id, rehearsal)
        for listener in self._registered:
            listener(fan)
        return fan, self._tokens.fan_token(fan.id)

    async def reserve(
        self, launch_id: str, fan_id: str, sku: str | None
    ) -> tuple[Reservation, bool]:
        """A fan's "I want one". In a draw it is the fan's entry, for one SKU."""
        book = self._engine.public_book(launch_id, fan_id)
        launch = book.launch
        if sku is not None and sku not in book.stock:
            raise InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
        if launch.is_draw and sku is None:
            if len(book.stock) > 1:
                raise InvalidInput("a draw entry names the SKU it is for", field="sku")
            sku = next(iter(book.stock))
        if self._entry_check is not None:
            self._entry_check(book, fan_id)
        cutoff = launch.rules.registered_before
        if cutoff is not None and fan_id not in book.reservations:
            fan = await self._store.fans.get(fan_id)
            if fan is None or fan.created_at >= cutoff:
                raise Forbidden(
                    f"this launch is for fans registered before {cutoff.isoformat()}"
                ).with_code("account_too_new")
        return await self._engine.reservations.reserve(launch_id, fan_id, sku)

    async def orders_of(self, fan_id: str) -> list[Order]:
        """The fan's orders, newest first, found by the store's index on the fan and shown
        as the engine holds them now (ship dates move in memory first)."""
        mine = []
        for row in await self._store.orders.for_fan(fan_id):
            order = self._engine.orders.get(row.id)
            mine.append(order if order is not None else row)
        return sorted(mine, key=lambda o: (o.paid_at, o.id), reverse=True)

    async def order(self, fan_id: str, order_id: str) -> Order:
        """The fan's own order; another fan's order is indistinguishable from a missing one."""
        order = await self._engine.order(order_id)
        if order is None or order.fan_id != fan_id:
            raise NotFound("order")
        return order

    async def history(self, order: Order) -> Sequence[OrderEvent]:
        return await self._store.orders.events(order.id)

    async def cancel_order(self, fan_id: str, order_id: str) -> Order:
        """A fan takes back an order that has not shipped: refunded in full, unit back on
        sale. A shipped order is for the maker to refund."""
        order = await self.order(fan_id, order_id)
        if order.status is OrderStatus.SHIPPED:
            raise Conflict(
                "this order has shipped; ask the maker for a refund", field=None
            ).with_code("already_shipped")
        if order.status is OrderStatus.REFUNDED:
            return order
        return await self._engine.refund_order(order, FAN_CANCELLED, unshipped_only=True)

    async def notifications(self, fan_id: str, limit: int) -> Sequence[Notification]:
        """The fan's notifications, newest first, but the sign-in links: those are for the
        mailbox alone (shown to the account, they would let whoever opened it with
        someone else's address prove that address: docs/security.md)."""
        asked = limit
        while True:
            rows = await self._store.notifications.for_fan(fan_id, asked)
            shown = [n for n in rows if n.kind not in MAILBOX_ONLY]
            if len(shown) >= limit or len(rows) < asked:
                return shown[:limit]
            asked *= 2

    # -- the fan's own record --------------------------------------------------------
    async def fan(self, fan_id: str) -> Fan:
        fan = await self._store.fans.get(fan_id)
        if fan is None or fan.is_erased:
            raise NotFound("fan")
        return fan

    async def set_shipping(self, fan_id: str, raw: Mapping[str, Any]) -> Fan:
        """Where the fan's next orders ship (an order keeps the address it was paid with)."""
        address = ShippingAddress.parse(raw)
        fan = await self.fan(fan_id)
        changed = replace(fan, shipping=address, address=address.one_line(), phone=address.phone)
        if changed != fan:
            await self._store.fans.update(changed)
            for listener in self._contact:
                listener(changed)
        return changed

    async def require_shipping(self, fan_id: str) -> None:
        """Refuse to take money for an order nobody could ship. A rehearsal's made-up fans
        are spared: their orders never ship, and they are removed with their run."""
        if is_rehearsal_fan(fan_id):
            return
        fan = await self.fan(fan_id)
        if fan.shipping is None:
            raise InvalidInput(
                "say where this order ships: give `shipping` with the payment, or set the"
                " address first (PUT /api/v1/me/shipping)",
                field="shipping",
                code="shipping_required",
            )

    async def email_proven(self, fan_id: str) -> bool:
        """Whether the fan has signed in by a link mailed to their address (it is theirs)."""
        fan = await self._store.fans.get(fan_id)
        return fan is None or fan.email_proven_at is not None

    async def prove_email(self, fan_id: str) -> None:
        """The fan signed in by a link mailed to their address: it is theirs. The caller
        ended every session and token made before, first (an account anyone could have
        opened with that address is now only its owner's; if this write fails, the next
        link ends them again)."""
        fan = await self._store.fans.get(fan_id)
        if fan is None or fan.is_erased or fan.email_proven_at is not None:
            return
        await self._store.fans.update(replace(fan, email_proven_at=self._clock.now()))

    async def set_language(self, fan_id: str, locale: str | None, time_zone: str | None) -> None:
        """The language and time zone the fan's e-mails are written in, as the fan chose
        them (None keeps what the record has)."""
        fan = await self._store.fans.get(fan_id)
        if fan is None or fan.is_erased:
            return
        changed = replace(fan, locale=locale or fan.locale, time_zone=time_zone or fan.time_zone)
        if changed != fan:
            await self._store.fans.update(changed)

    async def adopt_browser_zone(self, fan_id: str, time_zone: str | None) -> None:
        """The zone a browser reports, for the e-mails of a fan whose record has none yet
        (or UTC, kept while store/core.js's report was lost). A browser in another zone
        changes nothing: a fan signs in on a friend's laptop or abroad without moving
        home; they move it themselves on /me (`set_language`)."""
        fan = await self._store.fans.get(fan_id)
        if fan is None or fan.is_erased or time_zone is None:
            return
        if fan.time_zone in (None, "UTC") and time_zone != fan.time_zone:
            await self._store.fans.update(replace(fan, time_zone=time_zone))

    def held_claims(self, fan_id: str) -> list[Claim]:
        """The fan's claims waiting for payment, soonest deadline first."""
        return self._engine.ledger.held_by(fan_id)

    async def export(self, fan_id: str) -> dict[str, Any]:
        """Everything soldout keeps about the fan, as data they can take away (GDPR
        art. 15 and 20). Card numbers never reach soldout: payments show their state."""
        fan = await self.fan(fan_id)
        now = self._clock.now()
        last = self._exported.get(fan_id)
        if last is not None and (now - last).total_seconds() < EXPORT_EVERY:
            # the claims are found by a pass over the sale's record: not on every press
            raise RateLimited(EXPORT_EVERY)
        self._exported[fan_id] = now
        claims = await self._engine.archive.claims_of_fan(fan_id)
        payments = await self._engine.archive.payments_of_claims([c.id for c in claims])
        orders = []
        for order in await self.orders_of(fan_id):
            history = await self.history(order)
            orders.append((order, history))
        reservations = await self._store.reservations.for_fan(fan_id)
        return {
            "fan": fan,
            "reservations": reservations,
            "claims": claims,
            "payments": payments,
            "orders": orders,
            "notifications": [
                n
                for n in await self._store.notifications.for_fan(fan_id, 10_000)
                if n.kind not in MAILBOX_ONLY
            ],
        }

    async def erase(self, fan_id: str) -> None:
        """Erase the fan's personal data (GDPR art. 17). Orders stay for the maker's books
        (amounts, dates, SKUs), without a name or address. Refused while an order is paid
        but not shipped: it needs the address; the fan can cancel it first."""
        fan = await self.fan(fan_id)
        waiting = [o for o in await self.orders_of(fan_id) if o.in_queue]
        if waiting:
            raise Conflict(
                f"{len(waiting)} of your orders {'has' if len(waiting) == 1 else 'have'} not"
                " shipped yet and need your address: cancel them (full refund) or wait until"
                " they ship, then erase your account",
                field=None,
            ).with_code("orders_in_progress")
        for claim in self._engine.ledger.held_by(fan_id):
            with contextlib.suppress(ClaimExpired, Conflict):  # (released meanwhile: done)
                await self._engine.cancel(fan_id, claim.id)
        await self._store.fans.erase(fan.id, self._clock.now())
        forget_fan(self._engine, fan.id)  # what memory holds of them: addresses, entries
        self._tokens.revoke(fan.id)
