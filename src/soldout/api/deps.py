"""Authentication as FastAPI dependencies: the admin token and signed fan tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soldout.domain.errors import Forbidden, Unauthorized
from soldout.services import Platform
from soldout.services.tokens import admin_fingerprint
from soldout.web import FAN_COOKIE, WEB_HEADER

__all__ = ["Actor", "AdminAuth", "Credentials", "FanAuth", "platform_of"]

_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def platform_dep(request: Request) -> Platform:
    return platform_of(request)


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


def web_fan_token(request: Request) -> str | None:
    """The fan token of a signed-in browser: the cookie, honoured only on a request that
    carries `X-Soldout-Web: 1` (which a cross-site form or link cannot send)."""
    if request.headers.get(WEB_HEADER) != "1":
        return None
    return request.cookies.get(FAN_COOKIE)


async def require_fan(request: Request, credentials: Credentials) -> str:
    token = credentials.credentials if credentials is not None else web_fan_token(request)
    if token is None:
        raise Unauthorized()
    fan_id = platform_of(request).tokens.fan_of(token)
    if fan_id is None:
        raise Unauthorized("the token is not valid")
    return fan_id


async def admin_actor(credentials: Credentials) -> str:
    """Who the audit log names: the admin token's fingerprint, never the token."""
    return admin_fingerprint(_token(credentials))


AdminAuth = Depends(require_admin)
Actor = Annotated[str, Depends(admin_actor)]
FanAuth = Annotated[str, Depends(require_fan)]
