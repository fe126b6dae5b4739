"""What every storefront page shares: who is signed in, which language and time zone the
page speaks, the shop's face, rendering, and errors as pages in words.

The fan's cookie is HttpOnly and SameSite=Lax: a fan who follows a shared launch link
from another site arrives signed in. State-changing requests stay safe: the API honours
the cookie only with the header `X-Soldout-Web: 1` (which no other site can make a
browser send), and the storefront's own form posts check the `Origin`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from babel.messages.extract import extract_javascript
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from soldout import i18n
from soldout.api.access import fan_seen
from soldout.domain.errors import NotFound
from soldout.domain.sessions import SessionKind
from soldout.engine.book import LaunchBook
from soldout.i18n import Speaker
from soldout.services import Platform
from soldout.services.shop import look_version
from soldout.web import FAN_COOKIE, TEMPLATES, secure_page

__all__ = [
    "COOKIE_MAX_AGE",
    "LANG_COOKIE",
    "TZ_COOKIE",
    "base_url",
    "browser_zone",
    "chosen_language",
    "error_page",
    "fan_id_of",
    "friendly",
    "needs_sign_in",
    "not_found",
    "platform_of",
    "read_form",
    "refused",
    "render",
    "safe_next",
    "same_origin",
    "sign_in_response",
    "sku_name",
    "speaker_of",
]

COOKIE_MAX_AGE = 60 * 60 * 24 * 90
LANG_COOKIE = "soldout_lang"  # the language a fan chose with the switcher
TZ_COOKIE = "soldout_tz"  # the IANA zone the fan's browser reports (set by store/core.js)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
P = ParamSpec("P")
STORE_SCRIPTS = tuple(sorted((Path(__file__).resolve().parent / "static" / "store").glob("*.js")))

TEMPLATES.env.filters["iso"] = datetime.fromisoformat  # the views' ISO strings, for formats


@functools.cache
def _js_messages() -> tuple[str, ...]:
    """The English texts the storefront's scripts (`static/store/*.js`) show, as they mark
    them: `t("...")`, also inside a template literal's `${...}` and with arguments after
    the text (babel.cfg reads the same files the same way)."""
    found: set[str] = set()
    for script in STORE_SCRIPTS:
        with script.open("rb") as source:
            marked = extract_javascript(source, {"t": None}, [], {"parse_template_string": True})
            found.update(str(m[0] if isinstance(m, tuple) else m) for _, _, m, _ in marked)
    return tuple(sorted(found))


@functools.cache
def js_text(locale: str) -> dict[str, str]:
    """The storefront scripts' texts in `locale` (only those that differ from the English)."""
    speaker = Speaker.of(locale)
    texts = {m: speaker.gettext(m) for m in _js_messages()}
    return {m: text for m, text in texts.items() if text != m}


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def base_url(request: Request) -> str:
    """The shop's public address, for links that leave the page (e-mails, share links,
    previews): the configured one (`SOLDOUT_PUBLIC_URL`, else this server's own address),
    never the `Host` a request claims, which anyone can set. Only an in-process platform
    made without one (tests) falls back to the request's address."""
    return platform_of(request).public_url or str(request.base_url).rstrip("/")


def fan_id_of(request: Request) -> str | None:
    """The fan this browser's session cookie signs in (`services.sessions`), or None;
    told to the access log, as the API's auth tells it of a token's fan."""
    fan_id = platform_of(request).sessions.fan_of(request.cookies.get(FAN_COOKIE))
    if fan_id is not None:
        fan_seen(request.scope.setdefault("state", {}), fan_id)
    return fan_id


def speaker_of(request: Request) -> Speaker:
    """The page's language (the switcher's choice, else the browser's) and time zone (the
    browser's, once store/core.js has reported it; UTC, named as such, before)."""
    locale = chosen_language(request) or i18n.negotiate(request.headers.get("accept-language"))
    return Speaker.of(locale, _zone_of(request))


def chosen_language(request: Request) -> str | None:
    """The language the fan chose with the switcher (its cookie), or None: the language
    a browser merely asks for (Accept-Language) is no choice of the fan's."""
    return i18n.supported(request.cookies.get(LANG_COOKIE))


def _zone_of(request: Request) -> str | None:
    """The zone the browser reported, as its cookie holds it: the storefront once wrote it
    URL-encoded ("Europe%2FAmsterdam"), and such cookies live 90 days."""
    raw = request.cookies.get(TZ_COOKIE)
    return unquote(raw) if raw else None


def browser_zone(request: Request) -> str | None:
    """The browser's IANA zone, if it reported a real one: what a fan's e-mails keep."""
    zone = i18n.valid_zone(_zone_of(request))
    return None if zone is None else zone.key


async def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    speaker = speaker_of(request)
    platform = platform_of(request)
    context.setdefault("fan_id", fan_id_of(request))
    context.update(
        speaker=speaker,
        money=speaker.money,
        moment=speaker.moment,
        day=speaker.day,
        languages=i18n.LANGUAGES,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        base_url=base_url(request),
        shop=(shop := await platform.store.shop.get()),
        look=look_version(shop),
        js_text=js_text(speaker.locale),
    )
    with i18n.speaking(speaker):
        response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    secure_page(response, CSP)
    response.headers["referrer-policy"] = "strict-origin-when-cross-origin"
    response.headers["content-language"] = speaker.html_lang
    response.headers["vary"] = "Cookie, Accept-Language"
    return response


async def error_page(request: Request, status: int, title: str, message: str) -> Response:
    return await render(request, "store/error.html", status, title=title, message=message)


async def not_found(request: Request) -> Response:
    """The page for what does not exist (or is not the fan's), in their language: also
    for any address nothing answers."""
    with i18n.speaking(speaker_of(request)):
        title, text = (i18n.gettext("Not found"), i18n.gettext("We could not find that page."))
    return await error_page(request, 404, title, text)


async def refused(request: Request) -> Response:
    """A storefront form posted from another site."""
    with i18n.speaking(speaker_of(request)):
        title, text = (
            i18n.gettext("Not allowed"),
            i18n.gettext("This form must be sent from this site."),
        )
    return await error_page(request, 403, title, text)


def sku_name(book: LaunchBook, code: str) -> str:
    """What fans call a SKU (its name), or its code if the product no longer has it."""
    sku = book.product.sku(code)
    return sku.name if sku else code


def friendly(page: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Errors of a page as a page in words: 404 for what does not exist (or is not the
    fan's), 500 for anything unexpected; never JSON or a stack trace."""

    @functools.wraps(page)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        assert isinstance(request, Request)
        try:
            return await page(*args, **kwargs)
        except NotFound:
            return await not_found(request)
        except Exception:
            with i18n.speaking(speaker_of(request)):
                title = i18n.gettext("Something went wrong")
                text = i18n.gettext(
                    "Something went wrong on our side. Nothing was bought or charged by this"
                    " page. Please try again in a moment."
                )
            return await error_page(request, 500, title, text)

    return wrapper


def needs_sign_in(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)


def same_origin(request: Request) -> bool:
    """A form post from another site (login CSRF) is refused: its `Origin` must be this
    server as the browser reached it, or the shop's public address (behind a proxy that
    rewrites the Host)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    ours = {request.url.netloc}
    public = platform_of(request).public_url
    if public:
        ours.add(urlsplit(public).netloc)
    return urlsplit(origin).netloc in ours


async def read_form(request: Request, limit: int = 40) -> dict[str, str]:
    """An url-encoded form post (the pages' forms are small; no multipart)."""
    body = await request.body()
    pairs = parse_qsl(body.decode("utf-8", "replace"), max_num_fields=limit)
    return {key: value[:1000] for key, value in pairs}


def safe_next(target: str | None, default: str = "/me") -> str:
    """Only a path on this site (never `//evil.example` or a full URL); else `default`."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


async def sign_in_response(request: Request, target: str, fan_id: str) -> Response:
    """Sign this browser in: a new session (the one it held before, if any, ends), its
    id in the cookie, never a token; `Secure` over https (directly or through a trusted
    proxy), as long as the session lasts."""
    sessions = platform_of(request).sessions
    await sessions.end(request.cookies.get(FAN_COOKIE))
    session = await sessions.open(SessionKind.FAN, fan_id)
    fan_seen(request.scope.setdefault("state", {}), fan_id)  # (signed in by this request)
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        FAN_COOKIE,
        session,
        max_age=int(sessions.lifetime(SessionKind.FAN).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response
