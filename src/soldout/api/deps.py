"""Authentication as FastAPI dependencies: the admin token and signed fan tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soldout.api.access import fan_seen
from soldout.domain.errors import Forbidden, Unauthorized
from soldout.services import Platform
from soldout.services.tokens import admin_fingerprint
from soldout.web import FAN_COOKIE, WEB_HEADER

__all__ = ["Actor", "AdminAuth", "Credentials", "FanAuth", "client_address", "platform_of"]

_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def platform_dep(request: Request) -> Platform:
    return platform_of(request)


def client_address(request: Request) -> str | None:
    """The client's address: the peer's, or the one a trusted proxy forwarded
    (`api.proxies`, applied before any route runs)."""
    return request.client.host if request.client else None


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise Unauthorized()
    return credentials.credentials


async def require_admin(request: Request, credentials: Credentials) -> None:
    token = _token(credentials)
    tokens = platform_of(request).tokens
    if not tokens.is_admin(token):
        if tokens.fan_of(token) is not None:
            raise Forbidden("this needs the admin token")
        raise Unauthorized("the token is not valid")


def web_fan(request: Request) -> str | None:
    """The fan a signed-in browser's session cookie names, honoured only on a request
    that carries `X-Soldout-Web: 1` (which a cross-site form or link cannot send)."""
    if request.headers.get(WEB_HEADER) != "1":
        return None
    fan_id = platform_of(request).sessions.fan_of(request.cookies.get(FAN_COOKIE))
    if fan_id is not None:
        fan_seen(request.scope.setdefault("state", {}), fan_id)
    return fan_id


async def require_fan(request: Request, credentials: Credentials) -> str:
    """A fan's bearer token (signed, expiring) or, from the storefront, their session."""
    if credentials is not None:
        tokens = platform_of(request).tokens
        fan_id = tokens.fan_of(credentials.credentials)
        if fan_id is None:
            raise tokens.refusal(credentials.credentials)
        fan_seen(request.scope.setdefault("state", {}), fan_id)
        return fan_id
    fan_id = web_fan(request)
    if fan_id is None:
        raise Unauthorized()
    return fan_id


async def admin_actor(credentials: Credentials) -> str:
    """Who the audit log names: the admin token's fingerprint, never the token."""
    return admin_fingerprint(_token(credentials))


AdminAuth = Depends(require_admin)
Actor = Annotated[str, Depends(admin_actor)]
FanAuth = Annotated[str, Depends(require_fan)]
