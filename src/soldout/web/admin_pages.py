"""The maker's admin under `/admin`: server-rendered pages and HTML forms.

Signing in (an account's e-mail and password, or the bootstrap admin token) opens a
server-side session whose id goes in an HttpOnly, SameSite=Strict cookie
(`services.team`, `services.sessions`). Pages check it and the admin's role
(`admin_forms`); every form posts back here (no JavaScript needed) with a CSRF token
derived from the session (`admin_forms.csrf_token`), and a cross-site `Origin` is
refused. The forms call the same services as the JSON API and write the same audit
entries, under the name of the person signed in.

This module signs in and out and shows the audit log and the reconciliation; `router`
carries every admin page: products (`admin_products`), launches (`admin_launches`),
production plans (`admin_plans`), orders (`admin_orders`), refunds in full or in part
(`admin_refunds`) and the live dashboard (`admin_live`), and the team (`admin_team`).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api.deps import client_address, platform_of
from soldout.domain.audit import AuditEntry
from soldout.domain.errors import RateLimited, Unauthorized
from soldout.services.reconcile import Snapshot, reconcile
from soldout.web import (
    ADMIN_COOKIE,
    admin_board,
    admin_launches,
    admin_live,
    admin_orders,
    admin_plans,
    admin_products,
    admin_refunds,
    admin_shop,
    admin_team,
)
from soldout.web.admin_forms import Refused, cross_site, read_form, session_id, signed_in
from soldout.web.admin_render import guarded, redirect, render, set_admin_cookie

__all__ = ["ROUTERS", "router"]

router = APIRouter(prefix="/admin", include_in_schema=False)


# -- sign in / out -------------------------------------------------------------------
@router.get("/signin")
async def signin_page(request: Request) -> Response:
    return render(request, "admin/signin.html", {"refused": None, "next": _next(request)})


def _next(request: Request) -> str:
    target = request.query_params.get("next", "/admin/launches")
    return target if target.startswith("/admin/") and "//" not in target else "/admin/launches"


@router.post("/signin")
async def signin(request: Request) -> Response:
    """With an account's e-mail and password, or with the bootstrap admin token (the
    first sign-in, and the way back in). Failures are throttled (`services.throttle`)."""
    if cross_site(request):
        return await guarded(request, _refuse)
    fields = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    token = (fields.get("token") or [""])[0].strip()
    email = (fields.get("email") or [""])[0].strip()
    password = (fields.get("password") or [""])[0]
    target = (fields.get("next") or ["/admin/launches"])[0]
    if not target.startswith("/admin/") or "//" in target:
        target = "/admin/launches"
    team = platform_of(request).team
    context = {"next": target, "email": email}
    try:
        if token or not email:
            session = await team.sign_in_with_token(token, client_address(request))
        else:
            session = await team.sign_in(email, password, client_address(request))
    except Unauthorized:
        refused = (
            "That e-mail and password do not match an account."
            if email and not token
            else "That is not the admin token."
        )
        return render(request, "admin/signin.html", {**context, "refused": refused}, status=401)
    except RateLimited as exc:
        refused = (
            "Too many failed sign-ins from here or for this account:"
            f" try again in {exc.retry_after} seconds."
        )
        page = render(request, "admin/signin.html", {**context, "refused": refused}, status=429)
        page.headers["retry-after"] = str(exc.retry_after)
        return page
    await team.sign_out(session_id(request))  # this browser's previous session, if any
    response = redirect(target)
    set_admin_cookie(request, response, session)
    return response


async def _refuse(request: Request) -> Response:
    raise Refused


@router.post("/signout")
async def signout(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        await read_form(request, change=False)
        await platform_of(request).team.sign_out(session_id(request))
        response = redirect("/admin/signin")
        response.delete_cookie(ADMIN_COOKIE, path="/")
        return response

    return await guarded(request, handle)


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    return redirect("/admin/launches")


# -- audit ---------------------------------------------------------------------------
@router.get("/audit")
async def audit_page(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        signed_in(request)
        entries: list[AuditEntry] = list(await platform_of(request).store.audit.recent(200))
        return render(request, "admin/audit.html", {"entries": entries})

    return await guarded(request, handle)


@router.get("/reconciliation")
async def reconciliation_page(request: Request) -> Response:
    """The live payment provider (its keys by their last four characters, its webhook
    address and when it was last heard from), and what `soldout reconcile` reports:
    orders against payments against stock, read from the record now. The check reads the
    whole record on the server's event loop, so it runs only when asked (`?run=1`), not
    whenever the page is opened."""

    async def handle(request: Request) -> Response:
        signed_in(request)
        platform = platform_of(request)
        live = {
            "setup": platform.payment_setup,
            "heard_at": platform.engine.checkout.webhook_heard_at,
        }
        if request.query_params.get("run") != "1":
            return render(request, "admin/reconciliation.html", {"checked": None, **live})
        snapshot = await Snapshot.read(platform.store, platform.payments, platform.clock)
        context = {"mismatches": reconcile(snapshot), "checked": snapshot, **live}
        return render(request, "admin/reconciliation.html", context)

    return await guarded(request, handle)


# The admin's pages, each module's routes under /admin (in its own router's prefix, so that
# a route's template is its whole path: what the access log and /metrics name it by).
ROUTERS = [
    router,
    *(
        pages.router
        for pages in (
            admin_launches,
            admin_shop,
            admin_products,
            admin_plans,
            admin_orders,
            admin_refunds,
            admin_live,
            admin_team,
            admin_board,
        )
    ),
]
