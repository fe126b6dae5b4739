"""Joining, signing in by an e-mailed link, signing out, and choosing a language.

Sign-in is by a one-time link: `/signin` writes a `sign_in_link` notification, which the
e-mail outbox sends (under `soldout demo` the link is also shown on screen); the link
works once, for 15 minutes, across restarts (`store.links`), then opens a session whose
id goes in the fan's cookie. Sign-ups and link requests are throttled per address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from soldout import i18n
from soldout.api.deps import client_address
from soldout.domain.errors import Conflict, DomainError, InvalidInput, RateLimited
from soldout.domain.fans import normalise_email
from soldout.domain.notifications import Notification
from soldout.i18n import gettext as _
from soldout.ids import new_id
from soldout.services import Platform
from soldout.web import FAN_COOKIE
from soldout.web.store_common import (
    COOKIE_MAX_AGE,
    LANG_COOKIE,
    base_url,
    browser_zone,
    chosen_language,
    error_page,
    fan_id_of,
    friendly,
    platform_of,
    read_form,
    refused,
    render,
    safe_next,
    same_origin,
    sign_in_response,
    speaker_of,
)

__all__ = ["SIGN_IN_LIFETIME", "router"]

router = APIRouter(include_in_schema=False)
SIGN_IN_LIFETIME = timedelta(minutes=15)


@router.get("/join")
@friendly
async def join_form(request: Request, ref: str = "", next: str = "") -> Response:
    ref = ref.strip()[:32]
    known = bool(ref) and await platform_of(request).store.fans.by_referral_code(ref) is not None
    return await render(  # ("invited with code X" only for a code that is one)
        request, "store/join.html", ref=ref, invited=known, next=safe_next(next), form={}
    )


@router.post("/join")
@friendly
async def join(request: Request) -> Response:
    if not same_origin(request):
        return await refused(request)
    fields = await read_form(request)
    email, name, ref, next = (fields.get(k, "") for k in ("email", "name", "ref", "next"))
    platform = platform_of(request)
    speaker = speaker_of(request)
    try:
        platform.throttle.sign_up(client_address(request))
        fan, _token = await platform.fans.register(
            email,
            name,
            ref.strip() or None,
            locale=speaker.locale,
            time_zone=browser_zone(request),
        )
    except (InvalidInput, Conflict, RateLimited) as error:
        with i18n.speaking(speaker):
            problem = _join_problem(error)
        return await render(
            request,
            "store/join.html",
            429 if isinstance(error, RateLimited) else 422,
            ref=ref,
            next=safe_next(next),
            form={"email": email, "name": name},
            problem=problem,
            problem_field=error.field,
            problem_code=error.code,
        )
    return await sign_in_response(request, next, fan.id)


def _join_problem(error: DomainError) -> str:
    if isinstance(error, RateLimited):
        return _too_many()
    if error.code == "email_taken":
        return _("This e-mail address is already registered. Sign in instead.")
    if error.field == "referral_code":
        return _("We do not know this referral code. Check it, or leave it empty.")
    if error.field == "email":
        return _("Please enter a valid e-mail address.")
    if error.field == "name":
        return _("Please enter your name.")
    return error.message


@router.get("/signin")
@friendly
async def sign_in_form(request: Request, next: str = "") -> Response:
    return await render(request, "store/signin.html", next=safe_next(next))


@router.post("/signin")
@friendly
async def sign_in(request: Request) -> Response:
    """Always the same answer, whether the address is registered or not (no way to probe
    who is a fan); a registered fan gets the link by e-mail."""
    if not same_origin(request):
        return await refused(request)
    fields = await read_form(request)
    email, next = fields.get("email", ""), safe_next(fields.get("next"))
    platform = platform_of(request)
    try:
        address = normalise_email(email)
    except InvalidInput:
        with i18n.speaking(speaker_of(request)):
            problem = _("Please enter a valid e-mail address.")
        return await render(
            request, "store/signin.html", 422, next=next, problem=problem, email=email
        )
    try:
        platform.throttle.sign_up(client_address(request))  # links asked for, per network
    except RateLimited:
        with i18n.speaking(speaker_of(request)):
            problem = _too_many()
        return await render(
            request, "store/signin.html", 429, next=next, problem=problem, email=email
        )
    fan = await platform.store.fans.by_email(address)
    link = None
    asker, now = client_address(request), platform.clock.now()
    if fan is not None and not fan.is_erased and _THROTTLE.allows(address, asker, now):
        token = await _sign_in_token(platform, fan.id, next)
        path = f"/signin/{token}"
        link = base_url(request) + path  # (the shop's address: never the request's Host)
        note = Notification(
            new_id("ntf"),
            fan.id,
            "sign_in_link",
            f"Your sign-in link (valid for 15 minutes, once): {link}",
            now,
            {"path": path, "url": link, "expires_at": (now + SIGN_IN_LIFETIME).isoformat()},
        )
        await platform.store.notifications.add_many([note])
    return await render(
        request,
        "store/signin_sent.html",
        email=address,
        link=link if platform.demo else None,
    )


@router.get("/signin/{token}")
@friendly
async def sign_in_page(token: str, request: Request) -> Response:
    """A page with one button: opening the link spends nothing, so a mail scanner that
    fetches it before the fan does (many do) cannot use it up; the button's post does."""
    platform = platform_of(request)
    checked = await _check_sign_in_token(platform, token, spend=False)
    if checked is None:
        return await _link_refused(request)
    # the fan is told before pressing that a first link signs out their other browsers
    # (bearer tokens end too, and those cannot be counted: told whenever it is the first)
    first = not await platform.fans.email_proven(checked[0])
    return await render(request, "store/signin_link.html", token=token, signs_out_others=first)


@router.post("/signin/{token}")
@friendly
async def sign_in_link(token: str, request: Request) -> Response:
    if not same_origin(request):
        return await refused(request)
    platform = platform_of(request)
    checked = await _check_sign_in_token(platform, token, spend=True)
    if checked is None:
        return await _link_refused(request)
    fan_id, target = checked
    if not await platform.fans.email_proven(fan_id):
        # Whoever opened the account without this mailbox (with the owner's address) is
        # signed out now, before the address is marked proven; the owner is signed in
        # below, afresh.
        await platform.sessions.sign_out_fan_everywhere(fan_id)
        await platform.fans.prove_email(fan_id)
    # another browser's Accept-Language and zone say where the fan signs in, not what
    # their e-mails should speak: only a language chosen with the switcher moves it, and
    # the zone fills a record that has none
    await platform.fans.set_language(fan_id, chosen_language(request), None)
    await platform.fans.adopt_browser_zone(fan_id, browser_zone(request))
    return await sign_in_response(request, target, fan_id)


def _too_many() -> str:
    return _("Too many tries from your network. Please wait a few minutes, then try again.")


async def _link_refused(request: Request) -> Response:
    with i18n.speaking(speaker_of(request)):
        title = _("This link does not work")
        text = _("The sign-in link has expired or was already used. Ask for a new one.")
    return await error_page(request, 400, title, text)


class SignInThrottle:
    """Links to one address: at most one a minute and five an hour asked from one client
    address (an IPv6 client's /64), and twenty an hour from all of them. Nobody can make
    the shop mail a fan without end (or spend its mail server's reputation doing so), and
    someone asking for a fan's links on purpose from one address uses up that address's
    share, not the fan's."""

    def __init__(self, per_minute: int = 1, per_hour: int = 5, from_all: int = 20) -> None:
        hour = timedelta(hours=1)
        self._limits = ((timedelta(minutes=1), per_minute), (hour, per_hour))
        self._from_all = ((hour, from_all),)
        self._sent: dict[tuple[str, str], list[datetime]] = {}

    def allows(self, address: str, asker: str | None, now: datetime) -> bool:
        mine, everyone = (address, _network(asker)), (address, "*")
        if not (self._room(mine, self._limits, now) and self._room(everyone, self._from_all, now)):
            return False
        self._sent[mine].append(now)
        self._sent[everyone].append(now)
        if len(self._sent) > 100_000:  # forget those whose hour has passed
            self._sent = {
                k: ts for k, ts in self._sent.items() if ts and now - ts[-1] < timedelta(hours=1)
            }
        return True

    def _room(
        self, key: tuple[str, str], limits: tuple[tuple[timedelta, int], ...], now: datetime
    ) -> bool:
        recent = [t for t in self._sent.get(key, ()) if now - t < timedelta(hours=1)]
        self._sent[key] = recent
        return all(sum(1 for t in recent if now - t < span) < n for span, n in limits)


def _network(asker: str | None) -> str:
    """Who asks, as a limit counts them: an IPv4 address, or an IPv6 client's /64 (one
    host commonly holds a whole /64, so its addresses would each be a new asker)."""
    try:
        ip = ipaddress.ip_address(asker or "")
    except ValueError:
        return asker or ""
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


_THROTTLE = SignInThrottle()


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    """This browser's session ends (the fan's other browsers and tokens stay signed in:
    "sign out everywhere" on /me ends them all). A post only: a link from another site
    (a GET, which carries the Lax cookie) may not sign a fan out, nor another site's form."""
    if not same_origin(request):
        return await refused(request)
    fan_id_of(request)  # (for the access log: the fan who signs out)
    await platform_of(request).sessions.end(request.cookies.get(FAN_COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(FAN_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/language/{code}")
async def choose_language(code: str, request: Request, next: str = "/") -> Response:
    """The switcher: remember the language in a cookie (and for a signed-in fan, for
    their e-mails too), then go back to the page."""
    locale = i18n.supported(code) or i18n.DEFAULT_LOCALE
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE, locale, max_age=COOKIE_MAX_AGE, samesite="lax", path="/", httponly=True
    )
    fan_id = fan_id_of(request)
    # the fan's e-mails follow their own choice, not a link another site made them open
    if fan_id is not None and request.headers.get("sec-fetch-site") != "cross-site":
        await platform_of(request).fans.set_language(fan_id, locale, None)
    return response


# -- one-time sign-in links ----------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _sign(platform: Platform, payload: str) -> str:
    secret = await platform.store.secret("signin")
    return _b64(hmac.digest(secret, b"signin:" + payload.encode(), "sha256")[:24])


async def _sign_in_token(platform: Platform, fan_id: str, target: str) -> str:
    expires = int((platform.clock.now() + SIGN_IN_LIFETIME).timestamp())
    # the fan's token generation: "sign out everywhere" ends the links mailed before too
    generation = platform.tokens.generation(fan_id)
    payload = f"{fan_id}.{generation}.{expires}.{_b64(target.encode())}"
    return f"{payload}.{await _sign(platform, payload)}"


async def _check_sign_in_token(
    platform: Platform, token: str, *, spend: bool
) -> tuple[str, str] | None:
    payload, _dot, signature = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    if not hmac.compare_digest(signature.encode(), (await _sign(platform, payload)).encode()):
        return None
    fan_id, generation, expires, target = parts[0], int(parts[1]), int(parts[2]), parts[3]
    now = platform.clock.now()
    if expires < now.timestamp() or generation != platform.tokens.generation(fan_id):
        return None
    try:
        path = base64.urlsafe_b64decode(target + "=" * (-len(target) % 4)).decode()
    except ValueError:
        return None
    fan = await platform.store.fans.get(fan_id)
    if fan is None or fan.is_erased:
        return None
    # single use, also across a restart: the link's digest is spent in the store
    key = "signin:" + hashlib.sha256(signature.encode()).hexdigest()
    until = now + timedelta(seconds=expires - now.timestamp() + 60)
    if not spend:
        return None if await platform.store.links.spent(key) else (fan_id, safe_next(path))
    if not await platform.store.links.use(key, until, now):
        return None
    return fan_id, safe_next(path)
