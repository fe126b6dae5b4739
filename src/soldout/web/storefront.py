"""The storefront: the pages a fan uses, server-rendered, with a little JavaScript.

Pages read the platform in memory (the same views the JSON API answers with); everything
that changes something (reserve, buy, pay) is done by `static/store.js` calling the API
with the fan's cookie and the header `X-Soldout-Web: 1`. Sign-in is by a one-time link:
`/signin` puts a signed, 15-minute link in the fan's notifications (and shows it on
screen under `soldout demo`); `/signin/{token}` sets the HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import base64
import functools
import hmac
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ParamSpec
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from soldout.api.views import claim_status_view, launch_view, order_view
from soldout.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.engine.book import LaunchBook
from soldout.ids import new_id
from soldout.services import Platform
from soldout.web import FAN_COOKIE, TEMPLATES

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
SIGN_IN_LIFETIME = timedelta(minutes=15)
COOKIE_MAX_AGE = 60 * 60 * 24 * 90
P = ParamSpec("P")


def money(amount: int, currency: str) -> str:
    """Minor units as people read them ("EUR 199.00"), exactly."""
    return str(Money(amount, currency))


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    _directory(platform)
    return platform


def _fan_id(request: Request) -> str | None:
    """The signed-in fan of a page request (a same-site navigation: SameSite=Strict)."""
    token = request.cookies.get(FAN_COOKIE)
    return _platform(request).tokens.fan_of(token) if token else None


def _render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("fan_id", _fan_id(request))
    context["money"] = money
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def _error(request: Request, status: int, title: str, message: str) -> Response:
    return _render(request, "store/error.html", status, title=title, message=message)


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
            return _error(request, 404, "Not found", "We could not find that page.")
        except Exception:
            return _error(
                request,
                500,
                "Something went wrong",
                "Something went wrong on our side. "
                "Nothing was bought or charged by this page. Please try again in a moment.",
            )

    return wrapper


def _needs_sign_in(request: Request) -> Response:
    return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)


def _same_origin(request: Request) -> bool:
    """A form post from another site (login CSRF) is refused."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.url.netloc


async def _form(request: Request) -> dict[str, str]:
    """An url-encoded form post (the pages' forms are small; no multipart)."""
    body = await request.body()
    pairs = parse_qsl(body.decode("utf-8", "replace"), max_num_fields=20)
    return {key: value[:500] for key, value in pairs}


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/me"


def _signed_in(response: Response, request: Request, fan_id: str) -> Response:
    response.set_cookie(
        FAN_COOKIE,
        _platform(request).tokens.fan_token(fan_id),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


# -- pages ---------------------------------------------------------------------------


@router.get("/")
@friendly
async def home(request: Request) -> Response:
    platform = _platform(request)
    now = platform.clock.now()
    launches = [
        launch_view(b, now)
        for b in platform.engine.books()
        if b.launch.published and b.launch.rehearsal is None
    ]
    launches.sort(key=lambda v: v["sale_opens_at"], reverse=True)
    return _render(request, "store/home.html", launches=launches)


@router.get("/launches/{launch_id}")
@friendly
async def launch_page(launch_id: str, request: Request) -> Response:
    platform = _platform(request)
    book = platform.engine.public_book(launch_id)
    view = launch_view(book, platform.clock.now(), platform.engine.orders)
    fan_id = _fan_id(request)
    return _render(
        request,
        "store/launch.html",
        launch=view,
        description=book.product.description,
        reserved=fan_id is not None and fan_id in book.reservations,
    )


@router.get("/claims/{claim_id}")
@friendly
async def claim_page(claim_id: str, request: Request) -> Response:
    platform = _platform(request)
    fan_id = _fan_id(request)
    if fan_id is None:
        return _needs_sign_in(request)
    claim = platform.engine.claim_of(fan_id, claim_id)
    payments = platform.engine.checkout.payments_of(claim.id)
    view = claim_status_view(
        claim,
        platform.engine.order_for(claim.id),
        payments[-1] if payments else None,
        platform.engine.orders.estimate(claim) if claim.is_held else None,
    )
    book = platform.engine.book(claim.launch_id)
    return _render(
        request,
        "store/claim.html",
        claim=view,
        title=book.launch.title,
        sku_name=_sku_name(book, claim.sku),
        server_time=platform.clock.now().isoformat(),
    )


def _sku_name(book: LaunchBook, code: str) -> str:
    return next((s.name for s in book.product.skus if s.code == code), code)


@router.get("/orders/{order_id}")
@friendly
async def order_page(order_id: str, request: Request) -> Response:
    platform = _platform(request)
    fan_id = _fan_id(request)
    if fan_id is None:
        return _needs_sign_in(request)
    order = platform.fans.order(fan_id, order_id)
    view = order_view(order, await platform.fans.history(order))
    book = platform.engine.book(order.launch_id)
    return _render(
        request,
        "store/order.html",
        order=view,
        title=book.launch.title,
        sku_name=_sku_name(book, order.sku),
    )


@router.get("/me")
@friendly
async def me_page(request: Request) -> Response:
    platform = _platform(request)
    fan_id = _fan_id(request)
    if fan_id is None:
        return _needs_sign_in(request)
    fan = await platform.store.fans.get(fan_id)
    if fan is None:
        raise NotFound("fan")
    standing = platform.referrals.standing(fan_id)
    titles = {b.launch.id: b.launch.title for b in platform.engine.books()}
    return _render(
        request,
        "store/me.html",
        fan=fan,
        standing=standing,
        referral_link=f"{str(request.base_url).rstrip('/')}/join?ref={fan.referral_code}",
        orders=[order_view(o) for o in platform.fans.orders(fan_id)],
        titles=titles,
        notifications=await platform.fans.notifications(fan_id, 50),
    )


# -- joining and signing in ----------------------------------------------------------


@router.get("/join")
@friendly
async def join_form(request: Request, ref: str = "", next: str = "") -> Response:
    return _render(request, "store/join.html", ref=ref[:32], next=_safe_next(next), form={})


@router.post("/join")
@friendly
async def join(request: Request) -> Response:
    if not _same_origin(request):
        return _error(request, 403, "Not allowed", "This form must be sent from this site.")
    fields = await _form(request)
    email, name, ref, next = (fields.get(k, "") for k in ("email", "name", "ref", "next"))
    platform = _platform(request)
    form = {"email": email, "name": name}
    try:
        fan, _ = await platform.fans.register(email, name, ref.strip() or None)
    except (InvalidInput, Conflict) as error:
        message = _join_problem(error)
        return _render(
            request,
            "store/join.html",
            422,
            ref=ref,
            next=_safe_next(next),
            form=form,
            problem=message,
            problem_field=error.field,
        )
    _directory(platform)[fan.email] = fan.id
    response = RedirectResponse(_safe_next(next), status_code=303)
    return _signed_in(response, request, fan.id)


def _join_problem(error: DomainError) -> str:
    if error.code == "email_taken":
        return "This e-mail address is already registered. Sign in instead."
    if error.field == "referral_code":
        return "We do not know this referral code. Check it, or leave it empty."
    if error.field == "email":
        return "Please enter a valid e-mail address."
    if error.field == "name":
        return "Please enter your name."
    return error.message


@router.get("/signin")
@friendly
async def sign_in_form(request: Request, next: str = "") -> Response:
    return _render(request, "store/signin.html", next=_safe_next(next))


@router.post("/signin")
@friendly
async def sign_in(request: Request) -> Response:
    if not _same_origin(request):
        return _error(request, 403, "Not allowed", "This form must be sent from this site.")
    fields = await _form(request)
    email, next = fields.get("email", ""), fields.get("next", "")
    platform = _platform(request)
    address = email.strip().lower()
    fan_id = await _fan_by_email(platform, address)
    link = None
    if fan_id is not None:
        token = await _sign_in_token(platform, fan_id, _safe_next(next))
        link = f"{str(request.base_url).rstrip('/')}/signin/{token}"
        now = platform.clock.now()
        note = Notification(
            new_id("ntf"),
            fan_id,
            "sign_in_link",
            f"Your sign-in link (valid for 15 minutes, once): {link}",
            now,
            {"url": link, "expires_at": (now + SIGN_IN_LIFETIME).isoformat()},
        )
        await platform.store.notifications.add_many([note])
    return _render(
        request, "store/signin_sent.html", email=address, link=link if platform.demo else None
    )


@router.get("/signin/{token}")
@friendly
async def sign_in_link(token: str, request: Request) -> Response:
    platform = _platform(request)
    checked = await _check_sign_in_token(platform, token)
    if checked is None:
        return _error(
            request,
            400,
            "This link does not work",
            "The sign-in link has expired or was already used. Ask for a new one.",
        )
    fan_id, target = checked
    return _signed_in(RedirectResponse(target, status_code=303), request, fan_id)


@router.get("/signout")
@router.post("/signout")
async def sign_out(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(FAN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


# -- one-time sign-in links ----------------------------------------------------------

_USED: dict[str, float] = {}  # signature -> expiry (epoch seconds), to make a link single-use


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _sign(platform: Platform, payload: str) -> str:
    secret = await platform.store.secret("signin")
    return _b64(hmac.digest(secret, b"signin:" + payload.encode(), "sha256")[:24])


async def _sign_in_token(platform: Platform, fan_id: str, target: str) -> str:
    expires = int((platform.clock.now() + SIGN_IN_LIFETIME).timestamp())
    payload = f"{fan_id}.{expires}.{_b64(target.encode())}"
    return f"{payload}.{await _sign(platform, payload)}"


async def _check_sign_in_token(platform: Platform, token: str) -> tuple[str, str] | None:
    payload, _, signature = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    if not hmac.compare_digest(signature.encode(), (await _sign(platform, payload)).encode()):
        return None
    fan_id, expires, target = parts[0], int(parts[1]), parts[2]
    now = platform.clock.now().timestamp()
    if expires < now or signature in _USED:
        return None
    for used, until in list(_USED.items()):
        if until < now:
            del _USED[used]
    _USED[signature] = expires
    try:
        path = base64.urlsafe_b64decode(target + "=" * (-len(target) % 4)).decode()
    except ValueError:
        return None
    return fan_id, _safe_next(path)


# -- finding a fan by e-mail ---------------------------------------------------------

_DIRECTORIES: dict[int, dict[str, str]] = {}


def _directory(platform: Platform) -> dict[str, str]:
    """E-mail -> fan id of fans registered in this process. The store has no lookup by
    e-mail yet (`FanRepository.by_email` is asked for); this fills the gap until then."""
    directory = _DIRECTORIES.get(id(platform))
    if directory is None:
        directory = _DIRECTORIES[id(platform)] = {}
        platform.fans.on_register(lambda fan: directory.__setitem__(fan.email, fan.id))
    return directory


async def _fan_by_email(platform: Platform, email: str) -> str | None:
    lookup = getattr(platform.store.fans, "by_email", None)
    if lookup is not None:
        fan = await lookup(email)
        return fan.id if fan is not None else None
    return _directory(platform).get(email)
