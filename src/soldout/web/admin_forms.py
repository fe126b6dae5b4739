"""Who may post an admin form: a signed-in admin (a session cookie) whose role allows
it, a CSRF token bound to the session, our own origin; and `Form`, the posted fields read
as the values a service takes.

Roles are checked here, once for every page: any signed-in admin may see a page
(`signed_in`); a form that changes something needs a role that may change
(`read_form`, `Role.may_change`: not read-only), and one that changes the team an
owner (`read_form(request, team=True)`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from soldout.api.deps import platform_of
from soldout.domain.errors import InvalidInput
from soldout.domain.shop_time import instant
from soldout.domain.team import Admin
from soldout.web import ADMIN_COOKIE

__all__ = [
    "Form",
    "NotAllowed",
    "Refused",
    "SignIn",
    "admin_of",
    "cross_site",
    "csrf_matches",
    "csrf_token",
    "posting_admin",
    "read_form",
    "session_id",
    "shop_zone_of",
    "signed_in",
]


class SignIn(Exception):
    """Not signed in: answered with a redirect to the sign-in page."""


class Refused(Exception):
    """A form post that did not come from our own page (CSRF)."""


class NotAllowed(Exception):
    """The signed-in admin's role may not do this (answered 403, in words)."""

    def __init__(self, admin: Admin, what: str) -> None:
        super().__init__(what)
        self.admin = admin
        self.what = what


def session_id(request: Request) -> str | None:
    """The admin session id the browser holds (its cookie), checked or not."""
    return request.cookies.get(ADMIN_COOKIE) or None


def admin_of(request: Request) -> Admin | None:
    """The admin the cookie's session signs in, or None."""
    return platform_of(request).team.who(session_id(request))


def signed_in(request: Request) -> Admin:
    """The signed-in admin (any role may see a page), or `SignIn`."""
    admin = admin_of(request)
    if admin is None:
        raise SignIn
    return admin


def csrf_token(session: str) -> str:
    """Bound to the session's id, which another site can neither read nor send."""
    return hmac.new(session.encode(), b"soldout admin form", hashlib.sha256).hexdigest()


def cross_site(request: Request) -> bool:
    """The request says it comes from another site."""
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host")


def posting_admin(request: Request, *, change: bool = True, team: bool = False) -> Admin:
    """The admin posting a form, or `SignIn`, `Refused` (another site) or `NotAllowed`
    (`change`: the role must be allowed to change things; `team`: to run the team)."""
    admin = signed_in(request)
    if cross_site(request):
        raise Refused
    if team and not admin.role.runs_team:
        raise NotAllowed(admin, "only an owner may change the team")
    if change and not admin.role.may_change:
        raise NotAllowed(admin, "a read-only admin may look, not change")
    return admin


def csrf_matches(request: Request, sent: str) -> bool:
    return hmac.compare_digest(sent.encode(), csrf_token(session_id(request) or "").encode())


def shop_zone_of(request: Request) -> tzinfo:
    """The shop's time zone, which `admin_render.guarded` reads for every admin page (UTC
    on a page outside it: the sign-in page shows no time)."""
    zone: tzinfo = getattr(request.state, "shop_zone", UTC)
    return zone


@dataclass(slots=True)
class Form:
    fields: dict[str, list[str]]
    actor: str
    zone: tzinfo = UTC  # the shop's: a time typed without an offset is on its wall clock

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

    def moment(self, name: str, label: str, *, current: datetime | None = None) -> datetime | None:
        """The instant typed in `name`, on the shop's wall clock. `current`: the instant
        the form showed there; sent back unchanged, it stays that instant, even in the
        hour the clocks repeat, which typing reads as its first occurrence."""
        raw = self.get(name)
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(f"{label} must be a date and time", field=name) from None
        if current is not None and value.tzinfo is None:
            shown = current.astimezone(self.zone).replace(tzinfo=None, microsecond=0)
            if value == shown:
                return current
        return instant(value, self.zone, field=name)


async def read_form(request: Request, *, change: bool = True, team: bool = False) -> Form:
    """The posted fields of a signed-in admin's own form, or `Refused` / `NotAllowed`
    (see `posting_admin`; `change=False` for a post that changes nothing: signing out)."""
    admin = posting_admin(request, change=change, team=team)
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = parse_qs(body, keep_blank_values=True)
    if not csrf_matches(request, (fields.get("csrf") or [""])[0]):
        raise Refused
    return Form(fields, admin.actor, shop_zone_of(request))
