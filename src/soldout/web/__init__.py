"""The web pages: the storefront a fan uses and the admin a maker runs a launch from.

Server-rendered (Jinja2) with a little JavaScript; every asset is served by soldout itself.
Pages call the same JSON API as everyone else. A signed-in browser holds the fan's token
in an HttpOnly, SameSite=Strict cookie; the API accepts it only with the header
`X-Soldout-Web: 1` (a custom header, which another site cannot make a browser send), so a
cookie never authorises a forged cross-site request.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from fastapi import FastAPI, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import Scope

from soldout import i18n

__all__ = [
    "ADMIN_COOKIE",
    "FAN_COOKIE",
    "TEMPLATES",
    "WEB_HEADER",
    "mount_static",
    "secure_page",
    "static_url",
]

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
i18n.install(TEMPLATES.env)  # the storefront speaks the fan's language (admin: English)
FAN_COOKIE = "soldout_fan"
ADMIN_COOKIE = "soldout_admin"
WEB_HEADER = "x-soldout-web"


def secure_page(response: Response, csp: str) -> None:
    """The headers every page of the storefront and the admin carries: its content
    security policy; no type sniffing; never inside another site's frame (`frame-ancestors
    'none'` in the policy for today's browsers, `X-Frame-Options` for older ones: a framed
    page can be clicked through to a purchase); never cached (a page shows a fan's own
    state)."""
    response.headers["content-security-policy"] = csp
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["x-frame-options"] = "DENY"
    response.headers["cache-control"] = "no-store"


class CachedStatic(StaticFiles):
    """Static assets with a cache lifetime (they also carry an ETag), never sniffed: a
    script runs only as the type it is served as."""

    async def get_response(self, path: str, scope: Scope):  # type: ignore[no-untyped-def]
        response = await super().get_response(path, scope)
        response.headers["x-content-type-options"] = "nosniff"
        if response.status_code == 200:
            response.headers["cache-control"] = "public, max-age=3600"
        return response


@functools.cache
def static_url(name: str) -> str:
    """A static file's address with its version, a digest of its content
    (`static_url("store/core.js")` is `/static/store/core.js?v=...`): a page names the
    scripts it was made with, so a browser that holds another version of one for the
    cache's hour fetches this one instead of running the two together."""
    digest = hashlib.sha256((HERE / "static" / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


TEMPLATES.env.globals["static_url"] = static_url


def mount_static(app: FastAPI) -> None:
    app.mount("/static", CachedStatic(directory=str(HERE / "static")), name="static")
