"""The maker's admin under `/admin`: server-rendered pages and HTML forms.

Signing in puts the admin token in an HttpOnly, SameSite=Strict cookie. Pages check it
with `tokens.is_admin`; every form posts back here (no JavaScript needed) with a CSRF
token derived from the cookie (`_csrf_token`), and a cross-site `Origin` is refused.
The forms call the same services as the JSON API and write the same audit entries.

The live dashboard reads `/admin/launches/{id}/live`, server-sent events fed by one
`_Feed` per launch: one snapshot per second computed from memory and shared by every
subscriber; the feed stops when the last one leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import hmac
import io
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from sse_starlette.sse import EventSourceResponse

from soldout.api import routes_admin, routes_fulfilment
from soldout.domain.audit import AuditEntry
from soldout.domain.claims import OrderStatus
from soldout.domain.duplicates import DuplicateRule
from soldout.domain.errors import DomainError, InvalidInput, NotFound
from soldout.domain.launches import LaunchRules, Mode
from soldout.domain.money import Money, validate_currency
from soldout.domain.products import Product, Sku
from soldout.engine.book import LaunchBook
from soldout.services import Platform
from soldout.services.catalog import LaunchChanges
from soldout.services.fulfilment import PlanInput
from soldout.store.ports import OrderFilter
from soldout.web import ADMIN_COOKIE, TEMPLATES

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)

TICK_SECONDS = 1.0
HISTORY = 120  # samples a dashboard opened mid-sale starts with
PAGE = 50
SKU_ROWS = 4
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DONE = {  # what a redirect after a successful form says; keys only, never echoed text
    "product": "Product created. Now schedule its launch.",
    "launch": "Launch created.",
    "changed": "Launch changed.",
    "published": "Launch published: fans can see it.",
    "paused": "Sale paused.",
    "resumed": "Sale resumed.",
    "extended": "Sale close extended.",
    "cancelled": "Launch cancelled; every hold was released.",
    "codes": "Priority codes issued.",
    "shipped": "Orders shipped.",
}


# -- signing in ----------------------------------------------------------------------
def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def _admin_token(request: Request) -> str | None:
    token = request.cookies.get(ADMIN_COOKIE)
    if token and _platform(request).tokens.is_admin(token):
        return token
    return None


def _actor(token: str) -> str:
    """The audit log's name for the admin: as in `api.deps.admin_actor`."""
    return f"admin:{hashlib.sha256(token.encode()).hexdigest()[:12]}"


def _csrf_token(token: str) -> str:
    """Bound to the signed-in cookie, which another site can neither read nor send."""
    return hmac.new(token.encode(), b"soldout admin form", hashlib.sha256).hexdigest()


class _SignIn(Exception):
    """Not signed in: answered with a redirect to the sign-in page."""


class _Refused(Exception):
    """A form post that did not come from our own page (CSRF)."""


@dataclass(slots=True)
class _Form:
    fields: dict[str, list[str]]
    actor: str

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0].strip() if values else default

    def integer(self, name: str, label: str, *, default: int | None = None) -> int:
        raw = self.get(name)
        if not raw and default is not None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput(f"{label} must be a whole number", field=name) from None

    def optional_integer(self, name: str, label: str) -> int | None:
        return self.integer(name, label) if self.get(name) else None

    def optional_number(self, name: str, label: str) -> float | None:
        raw = self.get(name)
        if not raw:
            return None
        try:
            return float(raw)
        except ValueError:
            raise InvalidInput(f"{label} must be a number", field=name) from None

    def moment(self, name: str, label: str) -> datetime | None:
        raw = self.get(name)
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(f"{label} must be a date and time", field=name) from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _signed_in(request: Request) -> str:
    token = _admin_token(request)
    if token is None:
        raise _SignIn
    return token


async def _form(request: Request) -> _Form:
    """The posted fields of a signed-in admin's own form, or `_Refused`."""
    token = _signed_in(request)
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise _Refused
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = parse_qs(body, keep_blank_values=True)
    sent = (fields.get("csrf") or [""])[0]
    if not hmac.compare_digest(sent.encode(), _csrf_token(token).encode()):
        raise _Refused
    return _Form(fields, _actor(token))


def _redirect(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


def _render(
    request: Request, name: str, context: Mapping[str, Any], status: int = 200
) -> HTMLResponse:
    token = _admin_token(request)
    done = DONE.get(request.query_params.get("done", ""))
    page = TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "csrf": _csrf_token(token) if token else "",
            "signed_in": token is not None,
            "done": done,
            "money": _money,
            "when": _when,
            "local_input": _local_input,
            **context,
        },
        status_code=status,
    )
    _harden(page)
    return page


def _harden(response: Response) -> None:
    response.headers["content-security-policy"] = CSP
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers["cache-control"] = "no-store"


def _money(amount: int, currency: str) -> str:
    return str(Money(amount, currency))


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _local_input(value: datetime | None) -> str:
    """The value of a `datetime-local` input, in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if value else ""


async def _guarded(request: Request, handler: Any, *args: Any) -> Response:
    """Run a page handler: not signed in -> sign-in page; forged post -> 403 in words."""
    try:
        response: Response = await handler(request, *args)
    except _SignIn:
        return _redirect("/admin/signin", next=request.url.path)
    except NotFound as exc:
        page = HTMLResponse(
            "<!doctype html><title>Not found</title><h1>Not found</h1>"
            f'<p>{escape(exc.message)}.</p><p><a href="/admin/launches">Launches</a></p>',
            status_code=404,
        )
        _harden(page)
        return page
    except _Refused:
        page = HTMLResponse(
            "<!doctype html><title>Refused</title><h1>Refused</h1><p>This form did not come"
            " from this admin (missing or wrong form token, or another site). Reload the"
            " page and try again.</p>",
            status_code=403,
        )
        _harden(page)
        return page
    return response


# -- sign in / out -------------------------------------------------------------------
@router.get("/signin")
async def signin_page(request: Request) -> Response:
    return _render(request, "admin/signin.html", {"refused": None, "next": _next(request)})


def _next(request: Request) -> str:
    target = request.query_params.get("next", "/admin/launches")
    return target if target.startswith("/admin/") and "//" not in target else "/admin/launches"


@router.post("/signin")
async def signin(request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        return await _guarded(request, _refuse)
    fields = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    token = (fields.get("token") or [""])[0].strip()
    target = (fields.get("next") or ["/admin/launches"])[0]
    if not token or not _platform(request).tokens.is_admin(token):
        context = {"refused": "That is not the admin token.", "next": target}
        return _render(request, "admin/signin.html", context, status=401)
    if not target.startswith("/admin/") or "//" in target:
        target = "/admin/launches"
    response = _redirect(target)
    response.set_cookie(
        ADMIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


async def _refuse(request: Request) -> Response:
    raise _Refused


@router.post("/signout")
async def signout(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        await _form(request)
        response = _redirect("/admin/signin")
        response.delete_cookie(ADMIN_COOKIE, path="/")
        return response

    return await _guarded(request, handle)


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    return _redirect("/admin/launches")


# -- launches ------------------------------------------------------------------------
def _summary(book: LaunchBook, now: datetime) -> dict[str, Any]:
    stock = book.stock.values()
    return {
        "book": book,
        "status": book.status(now).value,
        "batch": sum(s.batch for s in stock),
        "paid": sum(s.paid for s in stock),
        "held": sum(s.held for s in stock),
        "available": sum(s.available for s in stock),
    }


@router.get("/launches")
async def launches(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        platform = _platform(request)
        now = platform.clock.now()
        books = sorted(platform.engine.books(), key=lambda b: b.launch.sale_opens_at, reverse=True)
        rows = [_summary(b, now) for b in books]
        return _render(request, "admin/launches.html", {"rows": rows})

    return await _guarded(request, handle)


@router.get("/products/new")
async def new_product(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        return _render(request, "admin/product_new.html", _product_context({}, None))

    return await _guarded(request, handle)


def _product_context(fields: Mapping[str, list[str]], error: DomainError | None) -> dict[str, Any]:
    value = {k: v[0] for k, v in fields.items() if v}
    return {"rows": range(SKU_ROWS), "value": value, "error": error}


@router.post("/products")
async def create_product(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await _form(request)
        try:
            product = await _make_product(_platform(request), form)
        except DomainError as exc:
            context = _product_context(form.fields, exc)
            return _render(request, "admin/product_new.html", context, status=400)
        return _redirect("/admin/launches/new", product_id=product.id, done="product")

    return await _guarded(request, handle)


async def _make_product(platform: Platform, form: _Form) -> Product:
    name = form.get("name")
    if not name:
        raise InvalidInput("the product needs a name", field="name")
    skus = []
    for i in range(SKU_ROWS):
        code = form.get(f"sku{i}_code")
        if not code:
            continue
        label = f"SKU {code}"
        currency = validate_currency(form.get(f"sku{i}_currency").upper(), field=f"sku{i}_currency")
        price = Money(form.integer(f"sku{i}_price", f"{label}: price"), currency)
        cost = Money(form.integer(f"sku{i}_cost", f"{label}: cost", default=0), currency)
        skus.append(Sku(code, form.get(f"sku{i}_name") or code, price, cost))
    if not skus:
        raise InvalidInput("give at least one SKU (a code, a price)", field="sku0_code")
    product = await platform.catalog.create_product(name, form.get("description"), skus)
    await platform.audit(form.actor, "product.create", product.id, {"name": name})
    return product


@router.get("/launches/new")
async def new_launch(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        return _render(request, "admin/launch_new.html", await _launch_context(request, {}, None))

    return await _guarded(request, handle)


async def _launch_context(
    request: Request, fields: Mapping[str, list[str]], error: DomainError | None
) -> dict[str, Any]:
    platform = _platform(request)
    products = list(await platform.store.products.all())
    chosen = request.query_params.get("product_id") or (fields.get("product_id") or [""])[0]
    product = next((p for p in products if p.id == chosen), None)
    value = {k: v[0] for k, v in fields.items() if v}
    return {"products": products, "product": product, "value": value, "error": error}


@router.post("/launches")
async def create_launch(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await _form(request)
        platform = _platform(request)
        try:
            book = await _make_launch(platform, form)
        except DomainError as exc:
            context = await _launch_context(request, form.fields, exc)
            return _render(request, "admin/launch_new.html", context, status=400)
        return _redirect(f"/admin/launches/{book.launch.id}", done="launch")

    return await _guarded(request, handle)


async def _make_launch(platform: Platform, form: _Form) -> LaunchBook:
    product = await platform.catalog.product(form.get("product_id"))
    title = form.get("title")
    if not title:
        raise InvalidInput("the launch needs a title", field="title")
    opens = form.moment("sale_opens_at", "Sale opens")
    if opens is None:
        raise InvalidInput("give the time the sale opens", field="sale_opens_at")
    batch = {
        s.code: form.integer(f"batch_{s.code}", f"Units of {s.code}", default=0)
        for s in product.skus
    }
    batch = {code: n for code, n in batch.items() if n}
    mode = form.get("mode", "first_come")
    duplicate_rule = form.get("duplicate_rule", "allow")
    if mode not in ("first_come", "draw"):
        raise InvalidInput("choose first come or draw", field="mode")
    if duplicate_rule not in ("allow", "hold", "cancel"):
        raise InvalidInput("choose allow, hold or cancel", field="duplicate_rule")
    rules = LaunchRules(
        mode=Mode(mode),
        reservation_required=form.get("reservation_required") == "on",
        per_fan_limit=form.integer("per_fan_limit", "Units per fan", default=1),
        payment_window_seconds=form.integer(
            "payment_window_seconds", "Payment window", default=900
        ),
        registered_before=form.moment("registered_before", "Registered before"),
        waiting_room_rate=form.optional_number("waiting_room_rate", "Waiting room rate"),
        pow_difficulty=form.optional_integer("pow_difficulty", "Proof of work"),
        duplicate_rule=DuplicateRule(duplicate_rule),
        duplicate_limit=form.integer("duplicate_limit", "Accounts per address", default=2),
    )
    book = await platform.catalog.create_launch(
        product_id=product.id,
        title=title,
        sale_opens_at=opens,
        rules=rules,
        batch=batch,
        reservations_open_at=form.moment("reservations_open_at", "Reservations open"),
        sale_closes_at=form.moment("sale_closes_at", "Sale closes"),
        published=form.get("draft") != "on",
    )
    await platform.audit(form.actor, "launch.create", book.launch.id, {"title": title})
    return book


@router.get("/launches/{launch_id}")
async def launch_page(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        return _render(request, "admin/launch.html", _launch_page(request, launch_id, None))

    return await _guarded(request, handle)


def _launch_page(request: Request, launch_id: str, error: DomainError | None) -> dict[str, Any]:
    platform = _platform(request)
    book = platform.engine.book(launch_id)
    now = platform.clock.now()
    codes = list(book.codes.values())
    live = [c for c in codes if not c.is_spent and not c.is_expired(now)]
    return {
        **_summary(book, now),
        "launch": book.launch,
        "codes_total": len(codes),
        "codes_live": len(live),
        "codes_redeemed": sum(1 for c in codes if c.is_spent),
        "recent_codes": codes[-20:],
        "error": error,
    }


_LAUNCH_ACTIONS = {"change", "publish", "pause", "resume", "extend", "cancel"}


@router.post("/launches/{launch_id}/{action}")
async def change_launch(request: Request, launch_id: str, action: str) -> Response:
    async def handle(request: Request) -> Response:
        form = await _form(request)
        platform = _platform(request)
        if action not in _LAUNCH_ACTIONS and action != "codes":
            raise NotFound("admin action")
        try:
            if action == "codes":
                await _issue_codes(platform, launch_id, form)
                return _redirect(f"/admin/launches/{launch_id}", done="codes")
            audit, detail, changes = _launch_change(platform, launch_id, action, form)
            await platform.catalog.change_launch(launch_id, changes)
            await platform.audit(form.actor, audit, launch_id, detail)
        except NotFound:
            raise
        except DomainError as exc:
            context = _launch_page(request, launch_id, exc)
            return _render(request, "admin/launch.html", context, status=400)
        done = {"change": "changed", "publish": "published", "pause": "paused"}
        done |= {"resume": "resumed", "extend": "extended", "cancel": "cancelled"}
        return _redirect(f"/admin/launches/{launch_id}", done=done[action])

    return await _guarded(request, handle)


def _launch_change(
    platform: Platform, launch_id: str, action: str, form: _Form
) -> tuple[str, dict[str, Any], LaunchChanges]:
    """(audit action, audit detail, the change) for one of the launch page's forms."""
    if action == "pause":
        return "launch.pause", {"paused": True}, LaunchChanges(paused=True)
    if action == "resume":
        return "launch.resume", {"paused": False}, LaunchChanges(paused=False)
    if action == "publish":
        return "launch.change", {"published": True}, LaunchChanges(published=True)
    if action == "cancel":
        if form.get("confirm") != "cancel":
            raise InvalidInput("tick the box to confirm the cancellation", field="confirm")
        return "launch.cancel", {"cancel": True}, LaunchChanges(cancel=True)
    closes = form.moment("sale_closes_at", "Sale closes")
    if action == "extend":
        if closes is None:
            raise InvalidInput("give the new closing time", field="sale_closes_at")
        return (
            "launch.extend",
            {"sale_closes_at": closes.isoformat()},
            LaunchChanges(sale_closes_at=closes),
        )
    book = platform.engine.book(launch_id)
    grow = {
        code: form.integer(f"batch_{code}", f"Units of {code}", default=stock.batch)
        for code, stock in book.stock.items()
    }
    batch = {code: n for code, n in grow.items() if n != book.stock[code].batch}
    opens = form.moment("sale_opens_at", "Sale opens")
    changes = LaunchChanges(
        title=form.get("title") or None,
        sale_opens_at=opens,
        sale_closes_at=closes,
        batch=batch or None,
    )
    detail: dict[str, Any] = {"title": changes.title, "batch": batch or None}
    detail["sale_opens_at"] = opens.isoformat() if opens else None
    detail["sale_closes_at"] = closes.isoformat() if closes else None
    return "launch.change", detail, changes


async def _issue_codes(platform: Platform, launch_id: str, form: _Form) -> None:
    count = form.integer("count", "How many codes")
    sku = form.get("sku") or None
    expires = form.moment("expires_at", "Codes expire")
    await platform.catalog.issue_codes(launch_id, sku, count, expires)
    detail = {"count": count, "sku": sku, "expires_at": expires.isoformat() if expires else None}
    await platform.audit(form.actor, "codes.issue", launch_id, detail)


@router.get("/launches/{launch_id}/codes.csv")
async def codes_csv(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        return await routes_admin.export_codes(launch_id, _platform(request))

    return await _guarded(request, handle)


# -- production plans ----------------------------------------------------------------
@router.get("/products/{product_id}/skus/{sku}/plan")
async def plan_page(request: Request, product_id: str, sku: str) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        context = await _plan_context(request, product_id, sku, None, None, {})
        return _render(request, "admin/plan.html", context)

    return await _guarded(request, handle)


async def _plan_context(
    request: Request,
    product_id: str,
    sku: str,
    outcome: dict[str, Any] | None,
    error: DomainError | None,
    fields: Mapping[str, list[str]],
) -> dict[str, Any]:
    platform = _platform(request)
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
        form = await _form(request)
        platform = _platform(request)
        try:
            given = _plan_input(form)
            outcome = await platform.fulfilment.set_plan(product_id, sku, given)
        except DomainError as exc:
            context = await _plan_context(request, product_id, sku, None, exc, form.fields)
            return _render(request, "admin/plan.html", context, status=400)
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
        return _render(request, "admin/plan.html", context)

    return await _guarded(request, handle)


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date (YYYY-MM-DD)", field=field) from None


def _plan_input(form: _Form) -> PlanInput:
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


# -- orders --------------------------------------------------------------------------
@router.get("/orders")
async def orders_page(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        return _render(request, "admin/orders.html", await _orders_context(request, None, None))

    return await _guarded(request, handle)


async def _orders_context(
    request: Request, error: DomainError | None, shipped: list[Any] | None
) -> dict[str, Any]:
    platform = _platform(request)
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
    }


@router.post("/orders/ship-next")
async def ship_next(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await _form(request)
        platform = _platform(request)
        product_id, _, sku = form.get("line").partition("/")
        try:
            count = form.integer("count", "How many orders")
            carrier = form.get("carrier")
            if not carrier:
                raise InvalidInput("give the carrier", field="carrier")
            shipped = await platform.fulfilment.ship_next(product_id, sku, count, carrier, None)
        except DomainError as exc:
            context = await _orders_context(request, exc, None)
            return _render(request, "admin/orders.html", context, status=400)
        detail = {"orders": [o.id for o in shipped]}
        await platform.audit(form.actor, "orders.ship", f"{product_id}/{sku}", detail)
        return _render(request, "admin/orders.html", await _orders_context(request, None, shipped))

    return await _guarded(request, handle)


@router.post("/orders/ship-csv")
async def ship_csv(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await _form(request)
        platform = _platform(request)
        text = form.fields.get("csv", [""])[0].lstrip("\ufeff")
        try:
            rows = _shipment_rows(text)
            shipped = await platform.fulfilment.ship_listed(rows)
        except DomainError as exc:
            context = await _orders_context(request, exc, None)
            return _render(request, "admin/orders.html", context, status=400)
        await platform.audit(form.actor, "orders.ship", "csv", {"orders": [o.id for o in shipped]})
        return _render(request, "admin/orders.html", await _orders_context(request, None, shipped))

    return await _guarded(request, handle)


def _shipment_rows(text: str) -> list[tuple[str, str, str | None]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"order_id", "carrier"} <= set(reader.fieldnames):
        raise InvalidInput(
            "the first line must name the columns order_id,carrier[,tracking_number]",
            field="line 1",
        )
    return [
        (
            (r["order_id"] or "").strip(),
            (r["carrier"] or "").strip(),
            (r.get("tracking_number") or "").strip() or None,
        )
        for r in reader
    ]


@router.get("/orders.csv")
async def orders_csv(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        q = request.query_params
        status = q.get("status") if q.get("status") in set(OrderStatus) else None
        return await routes_fulfilment.export_orders(
            _platform(request), q.get("launch_id") or None, q.get("sku") or None, status
        )

    return await _guarded(request, handle)


# -- audit ---------------------------------------------------------------------------
@router.get("/audit")
async def audit_page(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        entries: list[AuditEntry] = list(await _platform(request).store.audit.recent(200))
        return _render(request, "admin/audit.html", {"entries": entries})

    return await _guarded(request, handle)


# -- the live dashboard --------------------------------------------------------------
@router.get("/launches/{launch_id}/dashboard")
async def dashboard(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        platform = _platform(request)
        book = platform.engine.book(launch_id)
        first = _hub(request).feed(platform, launch_id).latest or _snapshot(platform, book, None)
        return _render(request, "admin/dashboard.html", {"launch": book.launch, "first": first})

    return await _guarded(request, handle)


@router.get("/launches/{launch_id}/live")
async def live(request: Request, launch_id: str) -> Response:
    async def handle(request: Request) -> Response:
        _signed_in(request)
        platform = _platform(request)
        platform.engine.book(launch_id)
        feed = _hub(request).feed(platform, launch_id)
        return EventSourceResponse(
            feed.listen(), ping=15, headers={"cache-control": "no-store"}, send_timeout=10
        )

    return await _guarded(request, handle)


def _snapshot(platform: Platform, book: LaunchBook, before: _Sample | None) -> dict[str, Any]:
    """One launch's figures now, from memory only (no store read)."""
    now = platform.clock.now()
    claims = sum(book.claim_states.values())
    mono = time.monotonic()
    rate = 0.0
    if before is not None and mono > before.at:
        rate = round((claims - before.claims) / (mono - before.at), 1)
    room = platform.gate.room_size(book)
    stock = book.stock
    return {
        "at": now.isoformat(),
        "status": book.status(now).value,
        "sold": sum(s.paid for s in stock.values()),
        "held": sum(s.held for s in stock.values()),
        "available": sum(s.available for s in stock.values()),
        "claims": claims,
        "claims_per_second": max(rate, 0.0),
        "reservations": len(book.reservations),
        "waiting_room": None if room is None else room.waiting,
        "admitted": None if room is None else room.admitted,
        "skus": {
            code: {
                "batch": s.batch,
                "available": s.available,
                "set_aside": s.set_aside,
                "held": s.held,
                "paid": s.paid,
            }
            for code, s in stock.items()
        },
    }


@dataclass(slots=True)
class _Sample:
    at: float
    claims: int


@dataclass(slots=True)
class _Feed:
    """One launch's snapshots: computed once per tick, handed to every subscriber."""

    platform: Platform
    launch_id: str
    listeners: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)
    latest: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    ticks: int = 0  # snapshots computed (for tests and the curious)

    async def listen(self) -> AsyncIterator[dict[str, str]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1)
        self.listeners.add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        try:
            yield {"event": "history", "data": orjson.dumps(self.history).decode()}
            while True:
                snapshot = await queue.get()
                yield {"event": "snapshot", "data": orjson.dumps(snapshot).decode()}
        finally:
            self.listeners.discard(queue)

    async def _run(self) -> None:
        before: _Sample | None = None
        while self.listeners:
            book = self.platform.engine.book(self.launch_id)
            snapshot = _snapshot(self.platform, book, before)
            before = _Sample(time.monotonic(), snapshot["claims"])
            self.ticks += 1
            self.latest = snapshot
            self.history = [*self.history[-(HISTORY - 1) :], snapshot]
            for queue in list(self.listeners):
                if queue.full():  # a slow client gets the newest snapshot, not a backlog
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(snapshot)
            await asyncio.sleep(TICK_SECONDS)
        self.task = None


@dataclass(slots=True)
class _Hub:
    feeds: dict[str, _Feed] = field(default_factory=dict)

    def feed(self, platform: Platform, launch_id: str) -> _Feed:
        feed = self.feeds.get(launch_id)
        if feed is None:
            feed = self.feeds[launch_id] = _Feed(platform, launch_id)
        return feed


def _hub(request: Request) -> _Hub:
    state = request.app.state
    hub: _Hub | None = getattr(state, "admin_live", None)
    if hub is None:
        hub = state.admin_live = _Hub()
    return hub
