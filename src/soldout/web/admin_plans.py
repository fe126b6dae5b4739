"""The admin's production plan page of one SKU: its queue, and the plan set from a form."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api.deps import platform_of
from soldout.domain.errors import DomainError, InvalidInput
from soldout.services.fulfilment import PlanInput
from soldout.web.admin_forms import Form, read_form, signed_in
from soldout.web.admin_render import PAGE, guarded, render

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/products/{product_id}/skus/{sku}/plan")
async def plan_page(request: Request, product_id: str, sku: str) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        context = await _plan_context(request, product_id, sku, None, None, {})
        return render(request, "admin/plan.html", context)

    return await guarded(request, handle)


async def _plan_context(
    request: Request,
    product_id: str,
    sku: str,
    outcome: dict[str, Any] | None,
    error: DomainError | None,
    fields: Mapping[str, list[str]],
) -> dict[str, Any]:
    platform = platform_of(request)
    product = await platform.catalog.product(product_id)
    queue = await platform.fulfilment.queue(product_id, sku)
    plan = queue.plan
    value = {
        "starts_on": plan.starts_on.isoformat() if plan else "",
        "produced": str(plan.produced) if plan else "0",
        "rates": "\n".join(f"{r.starts_on} {r.units_per_day}" for r in plan.rates) if plan else "",
        "adjustments": "\n".join(f"{a.on} {a.units} {a.note}".rstrip() for a in plan.adjustments)
        if plan
        else "",
    }
    value |= {k: v[0] for k, v in fields.items() if v and k != "csrf"}
    return {
        "product": product,
        "sku": sku,
        "queue": queue,
        "value": value,
        "outcome": outcome,
        "error": error,
    }


@router.post("/products/{product_id}/skus/{sku}/plan")
async def set_plan(request: Request, product_id: str, sku: str) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request)
        platform = platform_of(request)
        try:
            given = _plan_input(form)
            outcome = await platform.fulfilment.set_plan(product_id, sku, given)
        except DomainError as exc:
            context = await _plan_context(request, product_id, sku, None, exc, form.fields)
            return render(request, "admin/plan.html", context, status=400)
        detail = {
            "starts_on": given.starts_on.isoformat(),
            "produced": given.produced,
            "rates": [{"starts_on": d.isoformat(), "units_per_day": n} for d, n in given.rates],
            "adjustments": [
                {"on": d.isoformat(), "units": n, "note": note} for d, n, note in given.adjustments
            ],
        }
        await platform.audit(form.actor, "plan.set", f"{product_id}/{sku}", detail)
        answer = {
            "recomputed": outcome.queued,
            "moved": len(outcome.changes),
            "later": outcome.later[:PAGE],
            "later_count": len(outcome.later),
            "unscheduled": outcome.unscheduled[:PAGE],
            "unscheduled_count": len(outcome.unscheduled),
        }
        context = await _plan_context(request, product_id, sku, answer, None, {})
        return render(request, "admin/plan.html", context)

    return await guarded(request, handle)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date (YYYY-MM-DD)", field=field) from None


def _plan_input(form: Form) -> PlanInput:
    def lines(name: str) -> list[tuple[int, list[str]]]:
        rows = form.get(name).splitlines()
        return [(i, row.split(maxsplit=2)) for i, row in enumerate(rows, 1) if row.strip()]

    def number(text: str, where: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(f"{where}: {text!r} is not a whole number", field=where) from None

    rates = []
    for i, parts in lines("rates"):
        where = f"rates line {i}"
        if len(parts) != 2:
            raise InvalidInput(f"{where}: write a date and units per day", field=where)
        rates.append((_day(parts[0], where), number(parts[1], where)))
    adjustments = []
    for i, parts in lines("adjustments"):
        where = f"adjustments line {i}"
        if len(parts) < 2:
            raise InvalidInput(f"{where}: write a date, units and a note", field=where)
        note = parts[2] if len(parts) > 2 else ""
        adjustments.append((_day(parts[0], where), number(parts[1], where), note))
    if not form.get("starts_on"):
        raise InvalidInput("give the first production day", field="starts_on")
    return PlanInput(
        _day(form.get("starts_on"), "starts_on"),
        form.integer("produced", "Units already made", default=0),
        rates,
        adjustments,
    )
