"""The maker's routes after the sale: production plans, shipping, orders, refunds, exports,
margin and reconciliation. Admin token only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from soldout.api.deps import Actor, AdminAuth, platform_dep
from soldout.api.openapi import CSV, DocumentedRoute
from soldout.api.schemas import PlanIn, RefundIn, ShipNextIn, TrackingIn
from soldout.api.views import order_view, plan_view
from soldout.domain.claims import OrderStatus
from soldout.domain.errors import InvalidInput, MalformedBody
from soldout.engine.fulfilment import DateChange
from soldout.services import Platform
from soldout.services.fulfilment import PlanInput, refund_reason
from soldout.services.reconcile import Snapshot, reconcile
from soldout.services.shipments import parse_shipment_csv, shipped_detail
from soldout.store.ports import OrderFilter

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1",
    dependencies=[AdminAuth],
    tags=["maker: fulfilment"],
    route_class=DocumentedRoute,
)
PlatformDep = Annotated[Platform, Depends(platform_dep)]
STATUSES = "|".join(s.value for s in OrderStatus)
LISTED = 1000  # orders named in a plan change's answer; the counts cover all of them


def _moved(change: DateChange) -> dict[str, Any]:
    return {
        "order_id": change.order.id,
        "before": change.before.isoformat() if change.before else None,
        "after": change.after.isoformat() if change.after else None,
    }


async def _queue_view(platform: Platform, product_id: str, sku: str) -> dict[str, Any]:
    queue = await platform.fulfilment.queue(product_id, sku)
    return {
        "product_id": product_id,
        "sku": sku,
        "plan": plan_view(queue.plan),
        "open_orders": queue.open_orders,
        "open_units": queue.open_units,
        "shipped_units": queue.shipped_units,
        "next_ship_date": queue.next_ship_date.isoformat() if queue.next_ship_date else None,
    }


@router.get("/products/{product_id}/skus/{sku}/plan")
async def get_plan(product_id: str, sku: str, platform: PlatformDep) -> dict[str, Any]:
    """The SKU's production plan and fulfilment queue."""
    return await _queue_view(platform, product_id, sku)


@router.put("/products/{product_id}/skus/{sku}/plan")
async def put_plan(
    product_id: str, sku: str, body: PlanIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Replace the SKU's production plan. Every waiting order is dated again in one pass;
    the answer counts the orders whose date moved and names (up to 1000 of each) those
    that slip (`later`) and those with no date until more is planned (`unscheduled`);
    their fans are notified."""
    outcome = await platform.fulfilment.set_plan(
        product_id,
        sku,
        PlanInput(
            body.starts_on,
            body.produced,
            [(r.starts_on, r.units_per_day) for r in body.rates],
            [(a.on, a.units, a.note) for a in body.adjustments],
        ),
    )
    later, unscheduled = outcome.later, outcome.unscheduled
    await platform.audit(actor, "plan.set", f"{product_id}/{sku}", body.model_dump(mode="json"))
    return {
        **await _queue_view(platform, product_id, sku),
        "recomputed": outcome.queued,
        "moved": len(outcome.changes),
        "later_count": len(later),
        "unscheduled_count": len(unscheduled),
        "later": [_moved(c) for c in later[:LISTED]],
        "unscheduled": [o.id for o in unscheduled[:LISTED]],
    }


@router.post("/products/{product_id}/skus/{sku}/shipments")
async def ship_next(
    product_id: str, sku: str, body: ShipNextIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Ship the next `count` orders of the SKU in queue order (orders held for review as
    duplicate buyers are passed over)."""
    shipped = await platform.fulfilment.ship_next(
        product_id, sku, body.count, body.carrier, body.tracking_numbers
    )
    await platform.audit(actor, "orders.ship", f"{product_id}/{sku}", shipped_detail(shipped))
    return {"shipped": [order_view(o) for o in shipped]}


@router.post(
    "/shipments",
    responses={
        404: {"description": "`not_found`: a line names no order (`field`: the line)"},
        409: {
            "description": "`conflict`: a listed order is not waiting to ship (and, shipped,"
            " has no tracking number on its line)"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "order_id,carrier,tracking_number\nord_123,DHL,JD0001\n",
                }
            },
        }
    },
)
async def ship_listed(request: Request, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Ship the orders a CSV lists (header `order_id,carrier,tracking_number`; the tracking
    number may be left out, column and all). A shipped order listed with a tracking number
    has its carrier and tracking number set or corrected (its fan told once per change).
    All or nothing: a bad line refuses the file and names the line."""
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedBody("the CSV is not UTF-8", field="body") from exc
    rows = parse_shipment_csv(text)
    shipped = await platform.fulfilment.ship_listed(rows)
    await platform.audit(actor, "orders.ship", "csv", shipped_detail(shipped))
    return {"shipped": [order_view(o) for o in shipped]}


@router.put(
    "/orders/{order_id}/tracking",
    responses={409: {"description": "`not_shipped`: the order has not shipped"}},
)
async def set_tracking(
    order_id: str, body: TrackingIn, platform: PlatformDep, actor: Actor
) -> dict[str, Any]:
    """Set or correct a shipped order's carrier and tracking number. The fan is told (once
    per change: the same values again change nothing and log nothing)."""
    order, changed = await platform.fulfilment.set_tracking(
        order_id, body.carrier, body.tracking_number
    )
    if changed is not None:
        await platform.audit(actor, "order.tracking", order_id, changed)
    return order_view(order, await platform.store.orders.events(order.id))


@router.post(
    "/orders/{order_id}/refund",
    responses={502: {"description": "`payment_failed`: the provider did not refund; retry"}},
)
async def refund(
    order_id: str,
    body: RefundIn,
    platform: PlatformDep,
    actor: Actor,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="with `amount`: a retry under the same key refunds once (without"
            " one, every request is a new refund)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Refund, for the reason given (required: the fan is told it and the books keep it; a
    blank one is 422 `invalid` on `reason`). In full (no `amount`, or all that is left):
    unshipped, the unit goes back on sale and the order leaves the fulfilment queue;
    shipped, refunded without touching stock; refunding a refunded order changes nothing
    and logs nothing. A part (`amount` below what is left): the order stands, keeps its
    unit and ships; several may follow each other. 409 `refund_pending` while a part
    refund's outcome at the provider is unknown (retry it with its key)."""
    if body.amount is not None:
        outcome = await platform.fulfilment.refund_amount(
            order_id, body.reason, body.amount, idempotency_key
        )
        if outcome.made is not None:
            detail = {"reason": refund_reason(body.reason), "amount": str(outcome.amount)}
            action = "order.refund" if outcome.made == "full" else "order.refund_part"
            await platform.audit(actor, action, order_id, detail)
        order = outcome.order
        return order_view(order, await platform.store.orders.events(order.id))
    before = await platform.engine.order(order_id)
    again = before is not None and before.status is OrderStatus.REFUNDED
    order = await platform.fulfilment.refund(order_id, body.reason)
    if not again:
        await platform.audit(
            actor, "order.refund", order_id, {"reason": refund_reason(body.reason)}
        )
    return order_view(order, await platform.store.orders.events(order.id))


def _filter(launch_id: str | None, sku: str | None, status: str | None) -> OrderFilter:
    return OrderFilter(launch_id=launch_id, sku=sku, status=status)


StatusQuery = Annotated[str | None, Query(pattern=f"^({STATUSES})$")]


@router.get("/orders")
async def list_orders(
    platform: PlatformDep,
    launch_id: str | None = None,
    sku: str | None = None,
    status: StatusQuery = None,
    after: Annotated[str | None, Query(description="`next` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Orders in payment order, a page at a time, each with its buyer and where it ships
    (`shipping`: null for an order paid before addresses were asked, or erased)."""
    cursor = None
    if after is not None:
        paid_at, _, order_id = after.partition("~")
        if not order_id:
            raise InvalidInput("not a page cursor", field="after")
        cursor = (paid_at, order_id)
    rows = await platform.fulfilment.page(cursor, limit, _filter(launch_id, sku, status))
    last = rows[-1].order if len(rows) == limit else None
    return {
        "orders": [
            {
                **order_view(r.order),
                "email": r.email,
                "name": r.name,
                "held_for_review": platform.fulfilment.held_for_review(r.order),
                "shipping": r.order.shipping.as_dict() if r.order.shipping else None,
            }
            for r in rows
        ],
        "next": f"{last.paid_at.isoformat()}~{last.id}" if last else None,
    }


@router.get("/orders.csv", response_class=StreamingResponse, responses=CSV)
async def export_orders(
    platform: PlatformDep,
    launch_id: str | None = None,
    sku: str | None = None,
    status: StatusQuery = None,
) -> StreamingResponse:
    """Every matching order as CSV for a warehouse, streamed page by page (any size). Its
    columns are listed in the README: `total` is in minor units (`14900` with `EUR`),
    `total_decimal` the same in the currency's unit (`149.00`); `product_name` and
    `sku_name` name what was bought. New columns come after the existing ones."""
    return StreamingResponse(
        platform.fulfilment.export_csv(_filter(launch_id, sku, status)),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="orders.csv"'},
    )


@router.get("/launches/{launch_id}/margin")
async def margin(launch_id: str, platform: PlatformDep) -> dict[str, Any]:
    """Revenue, cost and margin per SKU and in total (minor units). A SKU whose cost was
    not given has `cost_known` false and a null `margin`; so do its currency's totals once
    it has sold."""
    return await platform.fulfilment.margin(launch_id)


@router.get("/reconciliation")
async def reconciliation(platform: PlatformDep) -> dict[str, Any]:
    """Orders against payments against stock, from the record; every mismatch listed."""
    found = reconcile(await Snapshot.read(platform.store, platform.payments, platform.clock))
    return {
        "ok": not found,
        "mismatches": [{"kind": m.kind, "subject": m.subject, "detail": m.detail} for m in found],
    }
