"""The admin's orders page: a filtered page of orders, shipping (the next in queue, or
those a CSV lists), refunds and the CSV export."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api import routes_fulfilment
from soldout.api.deps import platform_of
from soldout.api.errors import status_for
from soldout.domain.claims import Order, OrderStatus
from soldout.domain.errors import DomainError, InvalidInput
from soldout.services.fulfilment import parse_shipment_csv
from soldout.store.ports import OrderFilter
from soldout.web.admin_forms import read_form, signed_in
from soldout.web.admin_render import PAGE, guarded, redirect, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/orders")
async def orders_page(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        context = await _orders_context(request, None, None)
        refunded = platform_of(request).engine.orders.get(request.query_params.get("refunded", ""))
        if refunded is not None and refunded.status is OrderStatus.REFUNDED:
            context["refunded"] = _refund_note(request, refunded)
        return render(request, "admin/orders.html", context)

    return await guarded(request, handle)


MAX_REASON = 500


def _refund_note(request: Request, order: Order) -> dict[str, Any]:
    """What the page says of a refund: where the unit went, or that it was done before."""
    book = platform_of(request).engine.book(order.launch_id)
    if order.shipped_at is not None:
        unit = "the unit had shipped"
    elif book.launch.is_draw:
        unit = "its unit goes to the next entrant of the draw"
    else:
        unit = "its unit is back on sale"
    again = request.query_params.get("again") == "1"
    return {"order": order, "unit": unit, "again": again}


async def _orders_context(
    request: Request, error: DomainError | None, shipped: list[Any] | None
) -> dict[str, Any]:
    platform = platform_of(request)
    q = request.query_params
    where = OrderFilter(
        launch_id=q.get("launch_id") or None,
        sku=q.get("sku") or None,
        status=q.get("status") if q.get("status") in set(OrderStatus) else None,
    )
    after = None
    if q.get("after"):
        paid_at, _, order_id = q["after"].partition("~")
        after = (paid_at, order_id) if order_id else None
    rows = await platform.fulfilment.page(after, PAGE, where)
    last = rows[-1].order if len(rows) == PAGE else None
    filters = {k: v for k, v in (("launch_id", where.launch_id), ("sku", where.sku)) if v}
    if where.status:
        filters["status"] = where.status
    books = platform.engine.books()
    lines = sorted({(b.product.id, b.product.name, code) for b in books for code in b.stock})
    return {
        "rows": rows,
        "held": platform.fulfilment.held_for_review,
        "where": where,
        "statuses": [s.value for s in OrderStatus],
        "launches": books,
        "lines": lines,
        "next_query": urlencode({**filters, "after": f"{last.paid_at.isoformat()}~{last.id}"})
        if last
        else None,
        "filters_query": urlencode(filters),
        "paged": bool(q.get("after")),
        "error": error,
        "shipped": shipped,
        "refunded": None,
        "max_reason": MAX_REASON,
    }


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
        detail = {"orders": [o.id for o in shipped]}
        await platform.audit(form.actor, "orders.ship", f"{product_id}/{sku}", detail)
        return render(request, "admin/orders.html", await _orders_context(request, None, shipped))

    return await guarded(request, handle)


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
        await platform.audit(form.actor, "orders.ship", "csv", {"orders": [o.id for o in shipped]})
        return render(request, "admin/orders.html", await _orders_context(request, None, shipped))

    return await guarded(request, handle)


_LIST_QUERY = frozenset({"launch_id", "sku", "status", "after"})


@router.post("/orders/{order_id}/refund")
async def refund(request: Request, order_id: str) -> Response:
    """As the API's refund: in full; an unshipped unit goes back on sale (or to the next
    draw entrant); a shipped one is refunded without touching stock. Idempotent."""

    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        reason = form.get("reason")
        before = platform.engine.orders.get(order_id)
        again = before is not None and before.status is OrderStatus.REFUNDED
        try:
            if len(reason) > MAX_REASON:
                raise InvalidInput(f"the reason is over {MAX_REASON} characters", field="reason")
            await platform.fulfilment.refund(order_id, reason)
        except DomainError as exc:
            context = await _orders_context(request, exc, None)
            status = 400 if isinstance(exc, InvalidInput) else status_for(exc)
            return render(request, "admin/orders.html", context, status=status)
        if not again:  # a second click or a stale tab: nothing happened, nothing to log
            await platform.audit(form.actor, "order.refund", order_id, {"reason": reason})
        # back to the list the admin was looking at (a reload does not post again)
        shown = {k: v for k, v in request.query_params.items() if k in _LIST_QUERY}
        return redirect("/admin/orders", **shown, refunded=order_id, again="1" if again else "0")

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
