"""The maker's view of one order and the search that finds it: everything the record holds
about an order in one place (its claim, payments, history, fan and address), and what a
refund of it would do with its unit.

    records = OrderRecords(store, engine, held)
    record = await records.get("ord_...")      # NotFound for an unknown id
    seen = await records.payment("pay_...")    # a payment, with or without an order
    found = await records.search("Ann@Example.com")   # by e-mail, order, claim or fan id
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from soldout.domain.claims import Claim, Order, OrderEvent, OrderStatus
from soldout.domain.errors import InvalidInput, NotFound
from soldout.domain.fans import Fan, normalise_email
from soldout.domain.launches import Status
from soldout.domain.payments import PaymentRecord
from soldout.engine import SaleEngine
from soldout.engine.book import LaunchBook
from soldout.store.ports import ExportRow, Store

__all__ = [
    "FoundOrders",
    "OrderRecord",
    "OrderRecords",
    "PaymentSeen",
    "UnitFate",
    "release_fate",
    "unit_fate",
]

MAX_QUERY = 320  # the longest e-mail address


class UnitFate(StrEnum):
    """Where a unit let go goes: an order's when it is refunded, a held claim's when the
    fan gives it back."""

    KEPT = "kept"  # it has shipped: the fan has it, stock is not touched
    ON_SALE = "on_sale"  # back on sale now
    ON_SALE_WHEN_RESUMED = "on_sale_when_resumed"  # the sale is paused
    NEXT_IN_DRAW = "next_in_draw"  # to the next fan on the draw's backup list
    UNOFFERED = "unoffered"  # a drawn launch with no backup left for it: unsold, unclaimable
    # a past refund in a drawn launch: to the next backup if one waited then (not kept)
    NEXT_IN_DRAW_IF_ANY = "next_in_draw_if_any"
    BACK_IN_STOCK = "back_in_stock"  # the sale is over or cancelled: nobody can buy it


def unit_fate(order: Order, book: LaunchBook, now: datetime) -> UnitFate:
    """What a refund does (or did) with the order's unit, as the engine carries it out:
    a shipped order is refunded without touching stock; an unshipped one's unit goes
    where any unit let go goes (`release_fate`)."""
    if order.shipped_at is not None:
        return UnitFate.KEPT
    fate = release_fate(book, order.sku, now)
    if order.refunded_at is not None and fate in (UnitFate.UNOFFERED, UnitFate.NEXT_IN_DRAW):
        return UnitFate.NEXT_IN_DRAW_IF_ANY  # (said of a past refund: the list then is not kept)
    return fate


def release_fate(book: LaunchBook, sku: str, now: datetime) -> UnitFate:
    """Where a unit of `sku` let go now goes (a held claim given back, an order refunded
    before shipping): back to the launch's open pool, from which a drawn launch serves its
    next backup (if one is still waiting: else the unit stays unsold, and no fan can
    claim it)."""
    launch = book.launch
    if launch.cancelled_at is not None:
        return UnitFate.BACK_IN_STOCK
    status = book.status(now)
    if status is Status.CLOSED:
        return UnitFate.BACK_IN_STOCK
    if launch.is_draw and launch.drawn_at is not None:
        if book.backups is not None and not book.backups.waiting_count(sku):
            return UnitFate.UNOFFERED
        return UnitFate.NEXT_IN_DRAW
    if status is Status.PAUSED:
        return UnitFate.ON_SALE_WHEN_RESUMED
    return UnitFate.ON_SALE


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One order and everything on record around it."""

    order: Order
    launch_title: str
    product_name: str
    sku_name: str
    claim: Claim | None
    payments: Sequence[PaymentRecord]
    history: Sequence[OrderEvent]
    fan: Fan | None
    referrer: Fan | None
    held_for_review: bool
    fate: UnitFate  # of its unit if it is (or when it was) refunded

    @property
    def refunded(self) -> bool:
        return self.order.status is OrderStatus.REFUNDED


@dataclass(frozen=True, slots=True)
class PaymentSeen:
    """One payment attempt and what it was for: a payment given back has no order, and
    the maker's e-mail about it links here (`mail/team_letters.py`)."""

    payment: PaymentRecord
    claim: Claim | None
    launch_title: str
    sku_name: str
    fan: Fan | None
    order: Order | None  # its claim's order, if one was made (by this or another attempt)
    attempts: Sequence[PaymentRecord]  # every attempt of the claim, this one included


@dataclass(frozen=True, slots=True)
class FoundOrders:
    """What a search found: its rows (newest first) and how the query was read."""

    query: str
    matched: str  # "email" | "order" | "claim" | "fan" | "" (nothing matched)
    rows: Sequence[ExportRow]


class OrderRecords:
    def __init__(self, store: Store, engine: SaleEngine, held: Callable[[Order], bool]) -> None:
        self._store = store
        self._engine = engine
        self._held = held

    async def get(self, order_id: str) -> OrderRecord:
        order = await self._engine.order(order_id)
        if order is None:
            raise NotFound("order")
        book = self._engine.book(order.launch_id)
        claim = await self._engine.claim_by_id(order.claim_id)
        fan = await self._store.fans.get(order.fan_id)
        referrer = None
        if fan is not None and fan.referred_by is not None:
            referrer = await self._store.fans.get(fan.referred_by)
        sku = book.product.sku(order.sku)
        return OrderRecord(
            order=order,
            launch_title=book.launch.title,
            product_name=book.product.name,
            sku_name=sku.name if sku is not None else order.sku,
            claim=claim,
            payments=sorted(
                self._engine.checkout.payments_of(order.claim_id),
                key=lambda p: (p.created_at, p.id),
            ),
            history=await self._store.orders.events(order.id),
            fan=fan,
            referrer=referrer,
            held_for_review=self._held(order),
            fate=unit_fate(order, book, self._engine.now()),
        )

    async def payment(self, payment_id: str) -> PaymentSeen:
        payment = await self._engine.archive.payment(payment_id)
        if payment is None:
            raise NotFound("payment")
        claim = await self._engine.claim_by_id(payment.claim_id)
        title, sku_name = "", claim.sku if claim is not None else ""
        if claim is not None:
            book = self._engine.book(claim.launch_id)
            found = book.product.sku(claim.sku)
            title, sku_name = book.launch.title, found.name if found else claim.sku
        attempts = self._engine.checkout.payments_of(payment.claim_id)
        return PaymentSeen(
            payment=payment,
            claim=claim,
            launch_title=title,
            sku_name=sku_name,
            fan=await self._store.fans.get(payment.fan_id),
            order=self._engine.order_for(payment.claim_id),
            attempts=sorted(attempts, key=lambda p: (p.created_at, p.id)),
        )

    async def search(self, query: str) -> FoundOrders:
        """Orders by the buyer's e-mail (as registered: case and spaces do not matter), or
        by the exact id of an order, of the claim it came from, or of the fan. Unknown
        text finds nothing; `InvalidInput` on `q` for text that cannot be either."""
        text = query.strip()
        if not text:
            raise InvalidInput("type an e-mail address or an order id", field="q")
        if len(text) > MAX_QUERY:
            raise InvalidInput(f"the search is over {MAX_QUERY} characters", field="q")
        if "@" in unicodedata.normalize("NFKC", text):  # (a full-width one too)
            try:
                email = normalise_email(text)
            except InvalidInput:
                raise InvalidInput(f"{text!r} is not an e-mail address", field="q") from None
            fan = await self._store.fans.by_email(email)
            if fan is None:
                return FoundOrders(text, "", ())
            mine = await self._store.orders.for_fan(fan.id)
            return FoundOrders(text, "email", self._rows(mine, {fan.id: fan}))
        order = await self._engine.order(text)
        matched = "order"
        if order is None:
            order = await self._engine.archive.order_for_claim(text)
            matched = "claim"
        if order is not None:
            fan = await self._store.fans.get(order.fan_id)
            return FoundOrders(text, matched, self._rows([order], {fan.id: fan} if fan else {}))
        fan = await self._store.fans.get(text)
        if fan is not None:
            mine = await self._store.orders.for_fan(fan.id)
            return FoundOrders(text, "fan", self._rows(mine, {fan.id: fan}))
        return FoundOrders(text, "", ())

    def _rows(self, orders: Sequence[Order], fans: dict[str, Fan]) -> list[ExportRow]:
        """Newest first, each order as it is now (the record's copy may lag, see
        `FulfilmentDesk.page`)."""
        live = [self._engine.orders.get(o.id) or o for o in orders]
        live.sort(key=lambda o: (o.paid_at, o.id), reverse=True)
        rows = []
        for order in live:
            fan = fans.get(order.fan_id)
            rows.append(ExportRow(order, fan.email if fan else "", fan.name if fan else ""))
        return rows
