"""Joining, signing in by an e-mailed link, signing out, and choosing a language.

Sign-in is by a one-time link (`sign_in_links.py`): `/signin` writes a `sign_in_link`
notification, which the e-mail outbox sends (under `soldout demo` the link is also shown
on screen); the link works once, for 15 minutes, across restarts (`store.links`), then
opens a session whose id goes in the fan's cookie. Joining answers as asking for a link
does: the same page whether the address has an account or not. Sign-ups and link
requests are throttled per client address, links per e-mail address too.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from soldout import i18n
from soldout.api.deps import client_address
from soldout.domain.errors import Conflict, DomainError, InvalidInput, RateLimited
from soldout.domain.fans import Fan, normalise_email
from soldout.i18n import gettext as _
from soldout.web import FAN_COOKIE
from soldout.web.sign_in_links import check_link, mail_link
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

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


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
    """ "Check your e-mail", whether the address has an account or not (no way to probe
    who is a fan): a new account is made and mailed a link that signs it in (proving the
    address); an address that has one is mailed a sign-in link that says someone tried to
    join with it. Either counts in `/signin`'s throttles. A mistake in the form is told
    the same way in both cases: everything is checked before the address is looked up."""
    if not same_origin(request):
        return await refused(request)
    fields = await read_form(request)
    email, name, ref, next = (fields.get(k, "") for k in ("email", "name", "ref", "next"))
    platform = platform_of(request)
    speaker = speaker_of(request)
    try:
        platform.throttle.sign_up(client_address(request))
        fan, reason = await _joining(request, email, name, ref.strip() or None)
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
    asker = client_address(request)
    link = await mail_link(platform, base_url(request), fan, safe_next(next), asker, reason)
    return await render(
        request, "store/join_sent.html", email=fan.email, link=link if platform.demo else None
    )


async def _joining(request: Request, email: str, name: str, ref: str | None) -> tuple[Fan, str]:
    """The new account and `joined`, or the account the address already has and
    `join_again` (its name, language and referrer stay as they were)."""
    platform = platform_of(request)
    try:
        fan, _token = await platform.fans.register(
            email, name, ref, locale=speaker_of(request).locale, time_zone=browser_zone(request)
        )
        return fan, "joined"
    except Conflict as error:
        found = None
        if error.code == "email_taken":
            found = await platform.store.fans.by_email(normalise_email(email))
        if found is None:
            raise
        return found, "join_again"


def _join_problem(error: DomainError) -> str:
    if isinstance(error, RateLimited):
        return _too_many()
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
    if fan is not None:
        link = await mail_link(platform, base_url(request), fan, next, client_address(request))
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
    checked = await check_link(platform, token, spend=False)
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
    checked = await check_link(platform, token, spend=True)
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
