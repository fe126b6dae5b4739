"""The team page (`/admin/team`): who has an account and in which role, the open
invites; for an owner, inviting (the link is shown once, to pass on), changing roles,
removing accounts; signed in with the bootstrap token before any owner exists, making
the first owner account. And the invite link's own page (`/admin/invite/{key}`), where
the invitee chooses a name and a password. And `/admin/password`, where whoever is signed
in with an account changes their own password; `/admin/team/mail`, where they turn the
maker's e-mails (a launch sold out, money given back, a fan's refund) on or off. The
rules live in `services.team`."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import Response

from soldout.api.deps import client_address, platform_of
from soldout.domain.errors import DomainError, InvalidInput, NotFound, RateLimited
from soldout.domain.sessions import INVITE_LIFETIME
from soldout.domain.team import PASSWORD_MIN, Admin, Invite, Role, parse_role
from soldout.services.shop import ShopSettings
from soldout.services.tokens import is_admin_fingerprint
from soldout.web.admin_forms import (
    Form,
    Refused,
    cross_site,
    read_form,
    session_id,
    signed_in,
)
from soldout.web.admin_render import guarded, redirect, render, set_admin_cookie

__all__ = ["router"]

router = APIRouter(prefix="/admin", include_in_schema=False)


async def _context(request: Request, admin: Admin, **extra: Any) -> dict[str, Any]:
    team = platform_of(request).team
    return {
        "accounts": team.accounts(),
        "invites": await team.invites(),
        "roles": list(Role),
        "me": admin,
        "can_run_team": admin.role.runs_team,
        "needs_owner": admin.is_bootstrap and not team.has_owner,
        "password_min": PASSWORD_MIN,
        "invite_days": INVITE_LIFETIME.days,
        "link": None,
        "form": {},
        "posted": None,  # the path of a refused form (it alone shows what was typed)
        **extra,
    }


@router.get("/team")
async def team_page(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        admin = signed_in(request)
        return render(request, "admin/team.html", await _context(request, admin))

    return await guarded(request, handle)


async def _refused(request: Request, error: DomainError, form: Form) -> Response:
    admin = signed_in(request)
    typed = {k: v[0] for k, v in form.fields.items() if v and k not in ("csrf", "password")}
    # (only the form that was posted gets back what was typed into it)
    context = await _context(request, admin, error=error, form=typed, posted=request.url.path)
    return render(request, "admin/team.html", context, status=400)


@router.post("/team/owner")
async def make_owner(request: Request) -> Response:
    """The first owner account, made while signed in with the bootstrap token."""

    async def handle(request: Request) -> Response:
        form = await read_form(request, team=True)
        admin = signed_in(request)
        team = platform_of(request).team
        try:
            _, session = await team.create_first_owner(
                admin, form.get("email"), form.get("name"), _typed(form, "password")
            )
        except DomainError as error:
            return await _refused(request, error, form)
        await team.sign_out(session_id(request))  # the token's session: the owner's now
        response = redirect("/admin/team", done="owner")
        set_admin_cookie(request, response, session)
        return response

    return await guarded(request, handle)


def _typed(form: Form, name: str) -> str:
    """A password field as typed: spaces count."""
    values = form.fields.get(name)
    return values[0] if values else ""


@router.post("/team/invites")
async def invite(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request, team=True)
        admin = signed_in(request)
        platform = platform_of(request)
        try:
            role = parse_role(form.get("role"))
            made, key = await platform.team.invite(admin, form.get("email"), role)
        except DomainError as error:
            return await _refused(request, error, form)
        base = platform.public_url or str(request.base_url).rstrip("/")
        link = f"{base}/admin/invite/{key}"
        context = await _context(request, admin, link=link, invited=made)
        return render(request, "admin/team.html", context)

    return await guarded(request, handle)


@router.post("/team/invites/{invite_id}/cancel")
async def cancel_invite(request: Request, invite_id: str) -> Response:
    async def handle(request: Request) -> Response:
        await read_form(request, team=True)
        await platform_of(request).team.cancel_invite(signed_in(request), invite_id)
        return redirect("/admin/team", done="invite_cancelled")

    return await guarded(request, handle)


@router.post("/team/{account_id}/role")
async def change_role(request: Request, account_id: str) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request, team=True)
        team = platform_of(request).team
        try:
            role = parse_role(form.get("role"))
            await team.change_role(signed_in(request), account_id, role)
        except NotFound:
            raise
        except DomainError as error:
            return await _refused(request, error, form)
        return redirect("/admin/team", done="role")

    return await guarded(request, handle)


@router.post("/team/{account_id}/remove")
async def remove(request: Request, account_id: str) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request, team=True)
        team = platform_of(request).team
        try:
            await team.remove(signed_in(request), account_id)
        except NotFound:
            raise
        except DomainError as error:
            return await _refused(request, error, form)
        return redirect("/admin/team", done="removed")

    return await guarded(request, handle)


@router.post("/team/mail")
async def maker_mail(request: Request) -> Response:
    """The signed-in member turns the maker's e-mails on or off for their own account
    (owners and staff: a read-only member gets none, and is offered no such form)."""

    async def handle(request: Request) -> Response:
        form = await read_form(request, change=True)
        try:
            wanted = _checked(form, "maker_mail")
            await platform_of(request).team.set_maker_mail(signed_in(request), wanted)
        except DomainError as error:
            return await _refused(request, error, form)
        return redirect("/admin/team", done="maker_mail_on" if wanted else "maker_mail_off")

    return await guarded(request, handle)


def _checked(form: Form, name: str) -> bool:
    """A checkbox: sent as "on" when ticked, absent when not."""
    value = form.get(name)
    if value not in ("", "on"):
        raise InvalidInput("a checkbox is sent as on, or not at all", field=name)
    return value == "on"


# -- one's own password -------------------------------------------------------------
CHANGED_NOTE = (
    "Your password is changed. Every other browser signed in as you is signed out;"
    " this one stays signed in."
)


def _password_page(
    request: Request, admin: Admin, *, status: int = 200, error: DomainError | None = None
) -> Response:
    context: dict[str, Any] = {"me": admin, "password_min": PASSWORD_MIN, "error": error}
    if request.query_params.get("done") == "password":  # after the redirect of a change
        context["done"] = CHANGED_NOTE
    return render(request, "admin/password.html", context, status=status)


@router.get("/password")
async def password_page(request: Request) -> Response:
    """Any role may change its own password (it changes nothing of the shop's)."""

    async def handle(request: Request) -> Response:
        return _password_page(request, signed_in(request))

    return await guarded(request, handle)


@router.post("/password")
async def change_password(request: Request) -> Response:
    async def handle(request: Request) -> Response:
        form = await read_form(request, change=False)  # read-only members too
        admin = signed_in(request)
        team = platform_of(request).team
        try:
            session = await team.change_password(
                admin,
                _typed(form, "current_password"),
                _typed(form, "new_password"),
                _typed(form, "repeat_password"),
                client_address(request),
            )
        except RateLimited as exc:
            error = DomainError(
                "too many wrong passwords for this account or from here:"
                f" try again in {exc.retry_after} seconds",
                field="current_password",
            )
            page = _password_page(request, admin, status=429, error=error)
            page.headers["retry-after"] = str(exc.retry_after)
            return page
        except DomainError as error:
            return _password_page(request, admin, status=400, error=error)
        response = redirect("/admin/password", done="password")
        set_admin_cookie(request, response, session)  # every other session ended
        return response

    return await guarded(request, handle)


# -- the invite link -----------------------------------------------------------------
@router.get("/invite/{key}")
async def invite_page(request: Request, key: str) -> Response:
    """Opening the link spends nothing (a mail scanner may fetch it first)."""

    async def handle(request: Request) -> Response:
        found = await platform_of(request).team.invite_for(key)
        if found is None:
            return _spent(request)
        context = {
            "invite": found,
            "inviter": await _inviter(request, found),
            "password_min": PASSWORD_MIN,
            "form": {},
        }
        return render(request, "admin/invite.html", context)

    return await guarded(request, handle)


async def _inviter(request: Request, invite: Invite) -> str:
    """Who invited, in words the invitee understands: a person by name and e-mail; the
    bootstrap token (a fingerprint, which means nothing to them) as the shop's owner."""
    if not is_admin_fingerprint(invite.invited_by):
        return invite.invited_by
    platform = platform_of(request)
    shop = await ShopSettings(platform.store, platform.clock).get()
    return f"the owner of {shop.name}"


def _spent(request: Request) -> Response:
    """A link that no longer works says why it may not, and where to go (404)."""
    return render(request, "admin/invite.html", {"invite": None}, status=404)


@router.post("/invite/{key}")
async def accept_invite(request: Request, key: str) -> Response:
    async def handle(request: Request) -> Response:
        if cross_site(request):
            raise Refused
        fields = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        name = (fields.get("name") or [""])[0]
        password = (fields.get("password") or [""])[0]
        platform = platform_of(request)
        try:
            _, session = await platform.team.accept(key, name, password, client_address(request))
        except NotFound:
            return _spent(request)
        except DomainError as error:
            found = await platform.team.invite_for(key)
            if found is None:
                return _spent(request)
            context = {
                "invite": found,
                "inviter": await _inviter(request, found),
                "password_min": PASSWORD_MIN,
                "form": {"name": name},
                "error": error,
            }
            return render(request, "admin/invite.html", context, status=400)
        await platform.team.sign_out(session_id(request))
        response = redirect("/admin/launches", done="joined")
        set_admin_cookie(request, response, session)
        return response

    return await guarded(request, handle)
