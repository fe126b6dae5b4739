"""How every admin page answers: rendered with the CSRF token and formatters, hardened
headers, redirects after a form, and `guarded` for the sign-in, not-found and refused
answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape

from soldout.api.deps import platform_of
from soldout.domain.errors import NotFound
from soldout.domain.money import Money
from soldout.domain.shop_time import said_at, wall_clock
from soldout.web import ADMIN_COOKIE, TEMPLATES, secure_page
from soldout.web.admin_forms import (
    NotAllowed,
    Refused,
    SignIn,
    admin_of,
    csrf_token,
    session_id,
    shop_zone_of,
)

__all__ = ["PAGE", "guarded", "harden", "redirect", "render", "set_admin_cookie"]

PAGE = 50  # rows of a listing shown at once
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def said_field(field: str) -> str:
    """A refused field as the maker reads it: a form's own input as it is named
    ("current_password"), an API path in words ("rates[0].units_per_day" -> "rates line
    1, units per day"; "batch.LAMP-EU" -> "units of LAMP-EU")."""
    if re.fullmatch(r"[a-z0-9_]+", field):
        return field
    if field.startswith("batch."):
        return f"units of {field.removeprefix('batch.')}"
    words = re.sub(r"\[(\d+)\]", lambda m: f" line {int(m.group(1)) + 1}", field)
    return words.replace(".", ", ").replace("_", " ")


def said(message: str) -> str:
    """A refusal's message in words: the API name it begins with ("per_fan_limit must be
    ...") is spelled out ("per fan limit must be ..."); anything else, ids included
    ("no idea ida_x"), is left as written."""
    return re.sub(r"^[a-z]+(?:_[a-z]+)+\b", lambda m: m.group(0).replace("_", " "), message)


def field_apart(field: str | None, message: str) -> str | None:
    """The field to name after the message, unless the message already names it."""
    if not field:
        return None
    words = said_field(field)
    return None if words != field and words in said(message) else words


TEMPLATES.env.filters["said"] = said
TEMPLATES.env.globals["field_apart"] = field_apart

DONE = {  # what a redirect after a successful form says; keys only, never echoed text
    "product": "Product created. Now schedule its launch.",
    "launch": "Launch created.",
    "draft": "Launch created as a draft: fans cannot see it until you publish it below.",
    "rehearsal_removed": "Rehearsal removed: its launches, fans and orders are gone.",
    "changed": "Launch changed.",
    "unchanged": "Nothing was changed.",
    "published": "Launch published: fans can see it.",
    "paused": "Sale paused.",
    "resumed": "Sale resumed.",
    "extended": "Sale close extended.",
    "cancelled": "Launch cancelled; every hold was released.",
    "codes": "Priority codes issued.",
    "shipped": "Orders shipped.",
    "owner": "Your owner account is made: from now on, sign in with its e-mail and password.",
    "joined": "Welcome to the team.",
    "role": "Role changed; their sessions ended.",
    "removed": "Account removed; its sessions ended.",
    "maker_mail_on": "You will get the team's e-mails: a launch sold out, a payment given back,"
    " an order a fan cancelled.",
    "maker_mail_off": "You will not get the team's e-mails any more.",
    "invite_cancelled": "Invite cancelled.",
    "board": "Done.",
    "release": "Release published: the fans who voted for its ideas are being told.",
    "poll": "Poll open: fans see it on the product's board and launch pages.",
    "poll_changed": "Poll changed.",
    "rewarded": "Codes given: each fan is told with their code.",
    "rewarded_some": "Some codes given (each fan is told): the launch ran out of units to set"
    " aside before the end of the list.",
    "dismissed": "Report dismissed: the post stays.",
}


def redirect(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


def set_admin_cookie(request: Request, response: Response, session: str) -> None:
    """The session's id, never a token: HttpOnly, SameSite=Strict, and `Secure` whenever
    the browser reached us over https (directly or through a trusted proxy, whose
    scheme `api.proxies` has put on the request). It lasts as long as the browser is
    open; the session itself ends after 12 hours (`ADMIN_SESSION_LIFETIME`)."""
    response.set_cookie(
        ADMIN_COOKIE,
        session,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def render(
    request: Request, name: str, context: Mapping[str, Any], status: int = 200
) -> HTMLResponse:
    admin = admin_of(request)
    session = session_id(request)
    zone = shop_zone_of(request)
    done = DONE.get(request.query_params.get("done", ""))
    page = TEMPLATES.TemplateResponse(
        request,
        name,
        {
            "csrf": csrf_token(session) if admin is not None and session else "",
            "signed_in": admin is not None,
            "admin": admin,
            # what the pages offer: a form only to a role that may post it (the posts
            # themselves are checked by `admin_forms.posting_admin` all the same)
            "may_change": admin is not None and admin.role.may_change,
            "runs_team": admin is not None and admin.role.runs_team,
            "needs_owner": admin is not None
            and admin.is_bootstrap
            and not platform_of(request).team.has_owner,
            "done": done,
            "money": _money,
            # times in the shop's zone, each with its abbreviation (docs/translations.md)
            "when": lambda value, seconds=True: _when(value, zone, seconds),
            "local_input": lambda value: wall_clock(value, zone) if value else "",
            "shop_zone": getattr(zone, "key", "UTC"),
            **context,
        },
        status_code=status,
    )
    harden(page)
    return page


def harden(response: Response) -> None:
    secure_page(response, CSP)
    response.headers["referrer-policy"] = "same-origin"


def _money(amount: int, currency: str) -> str:
    """A margin can be below zero (refunds after shipping): "-EUR 10.00"."""
    return ("-" if amount < 0 else "") + str(Money(abs(amount), currency))


def _when(value: datetime | None, zone: tzinfo, seconds: bool) -> str:
    return said_at(value, zone, seconds=seconds) if value else "—"


async def guarded(request: Request, handler: Any, *args: Any) -> Response:
    """Run a page handler: not signed in -> sign-in page; forged post -> 403 in words.
    The shop's time zone is read first, for the page's times and the form's."""
    request.state.shop_zone = (await platform_of(request).store.shop.get()).zone
    try:
        response: Response = await handler(request, *args)
    except SignIn:
        return redirect("/admin/signin", next=request.url.path)
    except NotFound as exc:
        page = HTMLResponse(
            "<!doctype html><title>Not found</title><h1>Not found</h1>"
            f'<p>{escape(exc.message)}.</p><p><a href="/admin/launches">Launches</a></p>',
            status_code=404,
        )
        harden(page)
        return page
    except NotAllowed as exc:
        page = HTMLResponse(
            "<!doctype html><title>Not allowed</title><h1>Not allowed</h1>"
            f"<p>Your role ({escape(exc.admin.role.label)}) may not do this:"
            f" {escape(exc.what)}.</p>"
            '<p><a href="/admin/launches">Launches</a></p>',
            status_code=403,
        )
        harden(page)
        return page
    except Refused:
        page = HTMLResponse(
            "<!doctype html><title>Refused</title><h1>Refused</h1><p>This form did not come"
            " from this admin (missing or wrong form token, or another site). Reload the"
            " page and try again.</p>",
            status_code=403,
        )
        harden(page)
        return page
    return response
