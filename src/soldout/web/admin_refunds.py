"""The admin's refund of an order: a reason, an explicit confirmation, and an amount when
only part of the money goes back (empty: all that is left). A part refund leaves the order
standing; all that is left refunds in full (the unit goes back on sale unless it shipped).
The form carries a key made when the page was shown, so a second click, or a retry of a
refund whose outcome the provider did not confirm, refunds once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api.deps import platform_of
from soldout.api.errors import status_for
from soldout.domain.claims import OrderStatus
from soldout.domain.errors import DomainError, InvalidInput, NotFound
from soldout.domain.money import Money
from soldout.services.fulfilment import refund_reason
from soldout.services.order_records import unit_fate
from soldout.web.admin_forms import read_form
from soldout.web.admin_orders import LIST_QUERY, order_context
from soldout.web.admin_render import guarded, redirect, render

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.post("/orders/{order_id}/refund")
async def refund(request: Request, order_id: str) -> Response:
    """As the API's refund (an unshipped unit refunded in full goes back on sale, or to the
    next draw entrant; a shipped one is refunded without touching stock; a part refund
    keeps the order; idempotent), once the admin gave a reason and ticked the box that
    says what will happen."""

    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        before = await platform.engine.order(order_id)
        shown = {k: v for k in LIST_QUERY if (v := request.query_params.get(k))}
        if before is not None and before.status is OrderStatus.REFUNDED:
            # a second click or a stale tab: nothing happens, nothing is logged
            return redirect(f"/admin/orders/{order_id}", **shown, again="1")
        amount, key = form.get("amount").strip(), form.get("key").strip() or None
        try:
            reason = refund_reason(form.get("reason"))
            if form.get("confirm") != "yes":
                raise InvalidInput(
                    "tick the box to confirm the refund: it cannot be undone", field="confirm"
                )
            if before is None:
                raise NotFound("order")
            # where the unit goes, said before the refund moves it (a drawn launch's
            # backup list is not kept with the order)
            fate = unit_fate(before, platform.engine.book(before.launch_id), platform.clock.now())
            made: str | None = "full"
            money: Money | None = None
            if not amount:
                await platform.fulfilment.refund(order_id, reason)
            else:
                outcome = await platform.fulfilment.refund_amount(order_id, reason, amount, key)
                made, money = outcome.made, outcome.amount
        except DomainError as exc:
            context = await order_context(
                request, order_id, exc, form.get("reason"), amount=amount, key=key
            )
            status = 400 if isinstance(exc, InvalidInput) else status_for(exc)
            return render(request, "admin/order.html", context, status=status)
        if made == "full":
            detail = {"reason": reason} | ({"amount": str(money)} if money else {})
            await platform.audit(form.actor, "order.refund", order_id, detail)
            return redirect(f"/admin/orders/{order_id}", **shown, refunded=fate.value)
        if made == "part":
            detail = {"reason": reason, "amount": str(money)}
            await platform.audit(form.actor, "order.refund_part", order_id, detail)
        return redirect(f"/admin/orders/{order_id}", **shown, part="1")

    return await guarded(request, handle)
