"""The admin's orders: a filtered page of orders (or what a search by e-mail or id finds),
each order's own page (history, payments, claim, fan, address, part refunds), each
payment's (money given back has none), shipping (the next in queue, or those a CSV lists),
a shipped order's tracking number and the CSV export; its refund form posts to
`admin_refunds`."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api import routes_fulfilment
from soldout.api.deps import platform_of
from soldout.api.errors import status_for
from soldout.domain import order_history
from soldout.domain.claims import Order, OrderStatus
from soldout.domain.errors import DomainError, InvalidInput
from soldout.domain.money import Money
from soldout.services import Platform
from soldout.services.fulfilment import MAX_REFUND_REASON
from soldout.services.order_records import OrderRecord, OrderRecords, UnitFate
from soldout.services.shipments import parse_shipment_csv, shipped_detail
from soldout.store.ports import OrderFilter
from soldout.web.admin_forms import read_form, signed_in
from soldout.web.admin_render import PAGE, guarded, redirect, render

__all__ = ["LIST_QUERY", "order_context", "router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

# What the list was showing: kept on the way to an order's page and back, and through
# a refund (a reload after it does not post again).
LIST_QUERY = ("launch_id", "sku", "status", "after", "q")
SHOWN = 10  # orders named after shipping; the rest are counted


def _records(platform: Platform) -> OrderRecords:
    return OrderRecords(platform.store, platform.engine, platform.fulfilment.held_for_review)


@cache
def _country_names() -> dict[str, str]:
    return {str(k): str(v) for k, v in Locale("en").territories.items()}


def country(code: str) -> str:
    """'NL' -> 'Netherlands' (the admin reads English)."""
    return _country_names().get(code, code)


def _list_query(request: Request) -> str:
    q = request.query_params
    return urlencode([(k, q[k]) for k in LIST_QUERY if q.get(k)])


@router.get("/orders")
async def orders_page(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        context = await _orders_context(request, None, _shipped_now(request.query_params))
        return render(request, "admin/orders.html", context)

    return await guarded(request, handle)


async def _orders_context(
    request: Request, error: DomainError | None, shipped: Shipped | None
) -> dict[str, Any]:
    platform = platform_of(request)
    q = request.query_params
    where = OrderFilter(
        launch_id=q.get("launch_id") or None,
        sku=q.get("sku") or None,
        status=q.get("status") if q.get("status") in set(OrderStatus) else None,
    )
    books = platform.engine.books()
    lines = sorted({(b.product.id, b.product.name, code) for b in books for code in b.stock})
    context: dict[str, Any] = {
        "held": platform.fulfilment.held_for_review,
        "where": where,
        "statuses": [s.value for s in OrderStatus],
        "launches": books,
        "lines": lines,
        "error": error,
        "shipped": shipped,
        "country": country,
        "list_query": _list_query(request),
        "query": q.get("q", "").strip(),
        "found": None,
        "rows": [],
        "next_query": None,
        "filters_query": "",
        "paged": False,
    }
    if context["query"]:
        try:
            context["found"] = await _records(platform).search(q["q"])
            context["rows"] = context["found"].rows
        except InvalidInput as exc:
            context["error"] = context["error"] or exc
        return context
    after = None
    if q.get("after"):
        paid_at, _, order_id = q["after"].partition("~")
        after = (paid_at, order_id) if order_id else None
    rows = await platform.fulfilment.page(after, PAGE, where)
    last = rows[-1].order if len(rows) == PAGE else None
    filters = {k: v for k, v in (("launch_id", where.launch_id), ("sku", where.sku)) if v}
    if where.status:
        filters["status"] = where.status
    context.update(
        rows=rows,
        next_query=urlencode({**filters, "after": f"{last.paid_at.isoformat()}~{last.id}"})
        if last
        else None,
        filters_query=urlencode(filters),
        paged=bool(q.get("after")),
    )
    return context


@router.post("/orders/ship-next")
async def ship_next(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        product_id, _, sku = form.get("line").partition("/")
        try:
            count = form.integer("count", "How many orders")
            carrier = form.get("carrier")
            if not carrier:
                raise InvalidInput("give the carrier", field="carrier")
            shipped = await platform.fulfilment.ship_next(product_id, sku, count, carrier, None)
        except DomainError as exc:
            context = await _orders_context(request, exc, None)
            return render(request, "admin/orders.html", context, status=400)
        detail = shipped_detail(shipped)
        await platform.audit(form.actor, "orders.ship", f"{product_id}/{sku}", detail)
        return _shipped(shipped, count)

    return await guarded(request, handle)


def _shipped(shipped: list[Order], asked: int) -> Response:
    """To the orders page, which says what was shipped: a reload there ships nothing."""
    ids = ",".join(o.id for o in shipped[:SHOWN])
    return redirect("/admin/orders", shipped=str(len(shipped)), asked=str(asked), ids=ids)


@dataclass(frozen=True, slots=True)
class Shipped:
    """What the last shipping form did, as the redirect after it says."""

    count: int
    asked: int
    ids: list[str]


def _shipped_now(q: Mapping[str, str]) -> Shipped | None:
    try:
        count, asked = int(q.get("shipped", "")), int(q.get("asked", ""))
    except ValueError:
        return None
    ids = [i for i in q.get("ids", "").split(",") if i][:SHOWN]
    return Shipped(count, asked, ids)


@router.post("/orders/ship-csv")
async def ship_csv(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        text = form.fields.get("csv", [""])[0].lstrip("\ufeff")
        try:
            rows = parse_shipment_csv(text)
            shipped = await platform.fulfilment.ship_listed(rows)
        except DomainError as exc:
            context = await _orders_context(request, exc, None)
            return render(request, "admin/orders.html", context, status=400)
        await platform.audit(form.actor, "orders.ship", "csv", shipped_detail(shipped))
        return _shipped(shipped, len(shipped))

    return await guarded(request, handle)


@router.get("/orders/{order_id}")
async def order_page(request: Request, order_id: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        context = await order_context(request, order_id, None, "")
        return render(request, "admin/order.html", context)

    return await guarded(request, handle)


@router.get("/payments/{payment_id}")
async def payment_page(request: Request, payment_id: str) -> Response:
    """One payment attempt, with or without an order (money given back has none)."""

    async def handle(request: Request) -> Response:
        signed_in(request)
        seen = await _records(platform_of(request)).payment(payment_id)
        return render(request, "admin/payment.html", {"seen": seen, "p": seen.payment})

    return await guarded(request, handle)


def _just_refunded(said: str | None, record: OrderRecord) -> str | None:
    """What the refund just made did with the unit, as the redirect after it says (it was
    said before the refund moved the unit); the order's fate now for an older link."""
    if said is None or not record.refunded:
        return None
    return said if said in set(UnitFate) else record.fate


async def order_context(
    request: Request,
    order_id: str,
    error: DomainError | None,
    reason: str,
    tracking: tuple[str, str] | None = None,
    *,
    amount: str = "",
    key: str | None = None,
) -> dict[str, Any]:
    """What an order's page shows; `reason`, `amount` and `key`: the refund form's, as
    posted (kept when refused: a second click retries the same refund)."""
    record = await _records(platform_of(request)).get(order_id)
    q = request.query_params
    o = record.order
    return {
        "record": record,
        "o": o,
        "history": order_history.read(record.history),  # as it was then, and what changed
        "error": error,
        "reason": reason,
        "tracking": tracking or (o.carrier or "", o.tracking_number or ""),
        "just_tracked": q.get("tracked"),
        "max_reason": MAX_REFUND_REASON,
        "country": country,
        "list_query": _list_query(request),
        "just_refunded": _just_refunded(q.get("refunded"), record),
        "already_refunded": q.get("again") == "1" and record.refunded,
        "amount": amount,
        "refund_key": key or secrets.token_hex(16),
        "decimal": lambda amount: Money(amount, o.currency).decimal_text(),
        "just_refunded_part": q.get("part") == "1" and bool(o.refunds),
    }


@router.post("/orders/{order_id}/tracking")
async def set_tracking(request: Request, order_id: str) -> Response:
    """Set or correct a shipped order's carrier and tracking number (the fan is told)."""

    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        carrier, number = form.get("carrier"), form.get("tracking_number")
        try:
            _, changed = await platform.fulfilment.set_tracking(order_id, carrier, number)
        except DomainError as exc:
            context = await order_context(request, order_id, exc, "", (carrier, number))
            status = 400 if isinstance(exc, InvalidInput) else status_for(exc)
            return render(request, "admin/order.html", context, status=status)
        if changed is not None:
            await platform.audit(form.actor, "order.tracking", order_id, changed)
        shown = {k: v for k in LIST_QUERY if (v := request.query_params.get(k))}
        tracked = "1" if changed is not None else "same"
        return redirect(f"/admin/orders/{order_id}", **shown, tracked=tracked)

    return await guarded(request, handle)


@router.get("/orders.csv")
async def orders_csv(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        q = request.query_params
        status = q.get("status") if q.get("status") in set(OrderStatus) else None
        return await routes_fulfilment.export_orders(
            platform_of(request), q.get("launch_id") or None, q.get("sku") or None, status
        )

    return await guarded(request, handle)
