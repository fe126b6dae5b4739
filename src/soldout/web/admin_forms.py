"""Who may post an admin form: the signed-in cookie, a CSRF token bound to it, our own
origin; and `Form`, the posted fields read as the values a service takes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from soldout.api.deps import platform_of
from soldout.domain.errors import InvalidInput
from soldout.services.tokens import admin_fingerprint
from soldout.web import ADMIN_COOKIE

__all__ = [
    "Form",
    "Refused",
    "SignIn",
    "admin_token",
    "cross_site",
    "csrf_token",
    "read_form",
    "signed_in",
]


class SignIn(Exception):
    """Not signed in: answered with a redirect to the sign-in page."""


class Refused(Exception):
    """A form post that did not come from our own page (CSRF)."""


def admin_token(request: Request) -> str | None:
    """The admin token of the signed-in cookie, or None."""
    token = request.cookies.get(ADMIN_COOKIE)
    if token and platform_of(request).tokens.is_admin(token):
        return token
    return None


def signed_in(request: Request) -> str:
    """The admin token, or `SignIn`."""
    token = admin_token(request)
    if token is None:
        raise SignIn
    return token


def csrf_token(token: str) -> str:
    """Bound to the signed-in cookie, which another site can neither read nor send."""
    return hmac.new(token.encode(), b"soldout admin form", hashlib.sha256).hexdigest()


def cross_site(request: Request) -> bool:
    """The request says it comes from another site."""
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host")


@dataclass(slots=True)
class Form:
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


async def read_form(request: Request) -> Form:
    """The posted fields of a signed-in admin's own form, or `Refused`."""
    token = signed_in(request)
    if cross_site(request):
        raise Refused
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = parse_qs(body, keep_blank_values=True)
    sent = (fields.get("csrf") or [""])[0]
    if not hmac.compare_digest(sent.encode(), csrf_token(token).encode()):
        raise Refused
    return Form(fields, admin_fingerprint(token))
