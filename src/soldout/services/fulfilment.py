"""Use cases of the maker after the sale: production plans, shipping, refunds, exports,
and the margin of a launch."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date

from soldout.domain.claims import Order, OrderStatus
from soldout.domain.errors import Conflict, InvalidInput, NotFound
from soldout.domain.fulfilment import Adjustment, ProductionPlan, Rate
from soldout.domain.money import Money
from soldout.domain.plural import count as counted
from soldout.domain.products import Product
from soldout.domain.text import check_text
from soldout.engine import SaleEngine
from soldout.engine.orders import PlanOutcome, Retrack, Shipment
from soldout.ids import new_id
from soldout.services.margin import launch_margin
from soldout.services.order_export import EXPORT_COLUMNS, csv_row
from soldout.services.shipments import tracking_detail
from soldout.store.ports import ExportRow, OrderFilter, Store

__all__ = [
    "EXPORT_COLUMNS",
    "MAX_REFUND_REASON",
    "FulfilmentDesk",
    "PlanInput",
    "QueueSummary",
    "RefundOutcome",
    "refund_reason",
]

MAX_SHIP_AT_ONCE = 100_000
MAX_REFUND_REASON = 500
MAX_CARRIER = 100
MAX_TRACKING = 200


@dataclass(frozen=True, slots=True)
class PlanInput:
    starts_on: date
    produced: int
    rates: Sequence[tuple[date, int]]
    adjustments: Sequence[tuple[date, int, str]]


@dataclass(frozen=True, slots=True)
class QueueSummary:
    plan: ProductionPlan | None
    open_orders: int
    open_units: int
    shipped_units: int
    next_ship_date: date | None  # what one more unit ordered now would get


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    order: Order
    made: str | None  # "part" | "full"; None: a replay, nothing new (nothing to audit)
    amount: Money


def refund_reason(text: str) -> str:
    """The reason for a refund as it is kept: on one line, not empty, at most 500
    characters; `InvalidInput` on `reason` otherwise."""
    reason = " ".join(text.split())
    if not reason:
        raise InvalidInput("give the reason for the refund (the fan is told it)", field="reason")
    return check_text(reason, field="reason", limit=MAX_REFUND_REASON, label="the reason")


class FulfilmentDesk:
    def __init__(
        self, store: Store, engine: SaleEngine, held: Callable[[Order], bool] | None = None
    ) -> None:
        self._store = store
        self._engine = engine
        self._held = held or (lambda order: False)

    def held_for_review(self, order: Order) -> bool:
        """The order's buyer shares an address or phone beyond the launch's limit and the
        launch holds such orders: it does not ship until the maker releases it."""
        return self._held(order)

    # -- plans ---------------------------------------------------------------------
    async def set_plan(self, product_id: str, sku: str, given: PlanInput) -> PlanOutcome:
        await self._sku_of(product_id, sku)
        plan = ProductionPlan.create(
            starts_on=given.starts_on,
            produced=given.produced,
            rates=[Rate(d, n) for d, n in given.rates],
            adjustments=[Adjustment(d, n, note) for d, n, note in given.adjustments],
        )
        return await self._engine.orders.set_plan(product_id, sku, plan)

    async def queue(self, product_id: str, sku: str) -> QueueSummary:
        await self._sku_of(product_id, sku)
        queue = self._engine.orders.fulfilment.queue(product_id, sku)
        next_date = self._engine.orders.estimate_for(product_id, sku, 1)
        return QueueSummary(
            queue.plan, len(queue.open), queue.open_units, queue.shipped_units, next_date
        )

    async def _sku_of(self, product_id: str, sku: str) -> Product:
        product = await self._store.products.get(product_id)
        if product is None:
            raise NotFound("product")
        if product.sku(sku) is None:
            raise NotFound("SKU")
        return product

    # -- shipping ------------------------------------------------------------------
    async def ship_next(
        self,
        product_id: str,
        sku: str,
        count: int,
        carrier: str,
        tracking_numbers: Sequence[str] | None,
    ) -> list[Order]:
        """Ship the next `count` orders in queue order (fewer if fewer are waiting)."""
        await self._sku_of(product_id, sku)
        carrier = check_text(carrier, field="carrier", limit=MAX_CARRIER)
        for i, number in enumerate(tracking_numbers or ()):
            field = f"tracking_numbers[{i}]"
            check_text(number, field=field, limit=MAX_TRACKING, label="a tracking number")
        if not 1 <= count <= MAX_SHIP_AT_ONCE:
            raise InvalidInput(f"count must be between 1 and {MAX_SHIP_AT_ONCE}", field="count")
        waiting = self._engine.orders.fulfilment.queue(product_id, sku).open
        orders = [o for o in waiting if not self._held(o)][:count]
        if tracking_numbers is not None and len(tracking_numbers) != len(orders):
            raise InvalidInput(
                f"{counted(len(orders), 'order')} {'is' if len(orders) == 1 else 'are'} next in"
                " the queue: give as many tracking numbers"
                f" ({len(tracking_numbers)} given), or none",
                field="tracking_numbers",
            )
        numbers: Sequence[str | None] = tracking_numbers or [None] * len(orders)
        return await self._engine.orders.ship(
            [Shipment(o, carrier, n) for o, n in zip(orders, numbers, strict=True)]
        )

    async def ship_listed(self, rows: Sequence[tuple[str, str, str | None]]) -> list[Order]:
        """Ship the orders a warehouse lists as (order id, carrier, tracking number); a
        shipped order listed with a tracking number has it set (or corrected). All or
        nothing: one bad line refuses the whole list, naming the line."""
        if not rows:
            raise InvalidInput("the list has no orders", field="body")
        if len(rows) > MAX_SHIP_AT_ONCE:
            raise InvalidInput(f"at most {MAX_SHIP_AT_ONCE} orders at once", field="body")
        shipments: list[Shipment] = []
        retracks: list[Retrack] = []
        seen: set[str] = set()
        for line, (order_id, carrier, tracking) in enumerate(rows, start=2):
            field = f"line {line}"
            order = await self._engine.order(order_id)
            if order is None:
                raise NotFound(f"order {order_id!r}", field=f"{field}: order_id")
            if order_id in seen:
                raise InvalidInput(f"order {order_id} is listed twice", field=f"{field}: order_id")
            check_text(carrier, field=f"{field}: carrier", limit=MAX_CARRIER, label="carrier")
            if tracking:
                label = "the tracking number"
                check_text(
                    tracking, field=f"{field}: tracking_number", limit=MAX_TRACKING, label=label
                )
            seen.add(order_id)
            if order.status is OrderStatus.SHIPPED and tracking:
                if (order.carrier, order.tracking_number) != (carrier, tracking):
                    retracks.append(Retrack(order, carrier, tracking))
                continue
            if not order.in_queue:
                shipped = order.status is OrderStatus.SHIPPED
                why = " (give its tracking number to set it)" if shipped else ""
                raise Conflict(
                    f"order {order_id} is {order.status.value}, not waiting to ship{why}",
                    field=f"{field}: order_id",
                ).with_code("not_shippable")
            if self._held(order):
                raise Conflict(
                    f"order {order_id} is held for review (a duplicate buyer: refund it or"
                    " change the launch's duplicate rule) or its refund is running",
                    field=f"{field}: order_id",
                ).with_code("held_for_review")
            shipments.append(Shipment(order, carrier, tracking or None))
        return await self._engine.orders.ship(shipments, retracks)

    async def set_tracking(
        self, order_id: str, carrier: str, tracking: str
    ) -> tuple[Order, dict[str, object] | None]:
        """Set or correct a shipped order's carrier and tracking number; the fan is told.
        The order, and what the audit log keeps of the change (`tracking_detail`): None
        when the order already had these (nothing is written, nobody told again)."""
        carrier = check_text(carrier, field="carrier", limit=MAX_CARRIER)
        if not tracking.strip():
            raise InvalidInput("give the tracking number", field="tracking_number")
        label = "the tracking number"
        tracking = check_text(tracking, field="tracking_number", limit=MAX_TRACKING, label=label)
        order = await self._engine.order(order_id)
        if order is None:
            raise NotFound("order")
        if order.status is not OrderStatus.SHIPPED:
            raise Conflict(
                f"order {order_id} is {order.status.value}: only a shipped order has tracking",
                field="order_id",
            ).with_code("not_shipped")
        was = (order.carrier, order.tracking_number)
        if was == (carrier, tracking):
            return order, None
        await self._engine.orders.ship((), [Retrack(order, carrier, tracking)])
        return order, tracking_detail(order, *was)

    # -- refunds -------------------------------------------------------------------
    async def refund(self, order_id: str, reason: str) -> Order:
        """Refund in full, with the maker's reason: the fan is told it and the books keep
        it (the order's history, the payment record), so it may not be left empty."""
        reason = refund_reason(reason)
        order = await self._engine.order(order_id)
        if order is None:
            raise NotFound("order")
        if order.status is OrderStatus.REFUNDED:
            return order
        return await self._engine.refund_order(order, reason)

    async def refund_amount(
        self, order_id: str, reason: str, amount: str, key: str | None = None
    ) -> RefundOutcome:
        """Give back `amount`, typed as a decimal in the order's currency ("12.50"): less
        than what is left, a part refund (the order stands); all that is left, a refund in
        full. The same `key` again refunds once (none: every call is a new refund)."""
        reason = refund_reason(reason)
        order = await self._engine.order(order_id)
        if order is None:
            raise NotFound("order")
        money = Money.parse(amount, order.currency, field="amount")
        if money.amount <= 0:
            raise InvalidInput("the amount to refund must be more than zero", field="amount")
        earlier = order.refund_keyed(key) if key else None
        if earlier is not None and earlier.done:
            await self._engine.refund_part(order, money.amount, reason, earlier.key)  # (checks)
            return RefundOutcome(order, None, money)
        if order.status is OrderStatus.REFUNDED:
            if money.amount == order.total - order.parts_refunded:
                return RefundOutcome(order, None, money)  # the full refund, again
            raise InvalidInput("nothing is left to refund: it is refunded in full", field="amount")
        if earlier is None and money.amount == order.left_to_refund:
            return RefundOutcome(await self._engine.refund_order(order, reason), "full", money)
        order = await self._engine.refund_part(order, money.amount, reason, key or new_id("rk"))
        return RefundOutcome(order, "part", money)

    # -- orders and exports ----------------------------------------------------------
    async def page(
        self, after: tuple[str, str] | None, limit: int, where: OrderFilter
    ) -> Sequence[ExportRow]:
        """Up to `limit` orders in payment order after the key `after`. Unless `where`
        names a launch, a rehearsal's orders are left out: they are made up, and a list of
        the shop's orders is what ships (a rehearsal's own launch still lists its orders)."""
        rows: list[ExportRow] = []
        while True:
            read = await self._store.orders.page(after, limit, where)
            rows += self._real(self._live(read), where)
            if len(rows) >= limit or len(read) < limit:
                return rows[:limit]
            last = read[-1].order
            after = (last.paid_at.isoformat(), last.id)

    def _real(self, rows: list[ExportRow], where: OrderFilter) -> list[ExportRow]:
        if where.launch_id is not None:
            return rows
        made_up = {b.launch.id for b in self._engine.books() if b.launch.rehearsal is not None}
        return [r for r in rows if r.order.launch_id not in made_up] if made_up else rows

    def _live(self, rows: Sequence[ExportRow]) -> list[ExportRow]:
        """Orders as they are now: a moved ship date reaches the record a little later
        (see `ShipNews`); every order is also in memory."""
        orders = self._engine.orders
        return [ExportRow(orders.get(r.order.id) or r.order, r.email, r.name) for r in rows]

    async def export_csv(self, where: OrderFilter, page_size: int = 1000) -> AsyncIterator[str]:
        """The orders as CSV, page by page: memory stays flat whatever the number of orders,
        and other requests are served between pages. A rehearsal's orders are left out
        unless `where` names its launch (as `page`)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        products: dict[str, Product | None] = {}  # by launch id
        after: tuple[str, str] | None = None
        while True:
            rows = self._live(await self._store.orders.page(after, page_size, where))
            for row in self._real(rows, where):
                reason = await self._refund_reason(row.order) if row.order.refunded_at else None
                names = await self._names(row.order, products)
                writer.writerow(csv_row(row, reason, names))
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if len(rows) < page_size:
                return
            # The store reads without yielding: let the sale go on between pages (a 43 MB
            # export otherwise held every other request for 3.6 s).
            await asyncio.sleep(0)
            last = rows[-1].order
            after = (last.paid_at.isoformat(), last.id)

    async def _names(self, order: Order, known: dict[str, Product | None]) -> tuple[str, str]:
        """The order's product's and SKU's names as the shop calls them now, read from the
        store (an export needs no engine): every launch's product once per export (`known`,
        by launch id), again only for a launch made since."""
        if order.launch_id not in known:
            launches = await self._store.launches.all()
            products = {p.id: p for p in await self._store.products.all()}
            known.update({launch.id: products.get(launch.product_id) for launch in launches})
        product = known.get(order.launch_id)
        sku = product.sku(order.sku) if product is not None else None
        return (product.name if product else "", sku.name if sku else order.sku)

    async def _refund_reason(self, order: Order) -> str | None:
        """Why a refunded order was refunded, from its history (refunds are few: one read
        each, with the page's other orders written already)."""
        refunds = [e for e in await self._store.orders.events(order.id) if e.kind == "refunded"]
        if not refunds:
            return None
        return refunds[-1].detail.partition(": ")[2] or None  # "EUR 10.00 refunded: why"

    # -- margin --------------------------------------------------------------------
    async def margin(self, launch_id: str) -> dict[str, object]:
        """See `margin.launch_margin`."""
        return await launch_margin(self._engine, launch_id)
