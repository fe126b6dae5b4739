"""A strict local fake of Mollie's payments API (v2) and its hosted test-mode checkout page.

Served by uvicorn in a background thread on a free loopback port. Strict where Mollie is:
the bearer key must be the configured one (401 in Mollie's error shape), JSON bodies, the
required fields and their form (an amount's value has exactly its currency's decimals) are
checked and refused with 422 naming the `field`, and an `Idempotency-Key` replays the
first answer (`Idempotent-Replayed: true`) or is refused (422) for a different body. Its
objects are HAL, as Mollie's: `resource`, `id`, `mode`, `status`, `_links`.

Where Mollie's rules depend on the account, the fake picks one and says so: iDEAL and
Bancontact take EUR only, and an open payment is cancelable only by the methods in
`cancelable_methods` (not iDEAL). Mollie refuses a webhook URL it cannot reach (localhost);
the fake accepts one, so tests can receive its webhooks.

Test controls (thread-safe): `set_status` does what the page does; `refund_in_dashboard`,
`payment_without_order`, `latency`, `hang_after`, `page_size`, `send_webhooks`, and what
happened: `calls`, `webhook_calls`, `payment`, `refunds`.

Usage:

    with FakeMollie() as mollie:
        provider = MolliePayments(mollie.api_key, webhook_url=None, api_base=mollie.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import html
import json
import logging
import re
import secrets
import socket
import string
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Self
from urllib.parse import urlencode, urlsplit

import httpx
import uvicorn
from babel.numbers import format_currency
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["API_KEY", "FakeMollie", "LoopbackServer"]

log = logging.getLogger(__name__)

API_KEY = "test_SoldoutFakeMollieKey0123456789"
STATUSES = frozenset({"open", "pending", "authorized", "paid", "failed", "canceled", "expired"})
_DECIMALS = {"JPY": 0, "ISK": 0}  # Mollie's: every other currency it takes has two
_CURRENCIES = frozenset(
    {"AED", "AUD", "BGN", "BRL", "CAD", "CHF", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "ILS",
     "ISK", "JPY", "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RON", "SEK", "SGD", "THB", "TWD",
     "USD", "ZAR"}
)  # fmt: skip
_KNOWN_METHODS = frozenset(
    {"applepay", "bancontact", "banktransfer", "belfius", "blik", "creditcard", "directdebit",
     "eps", "giftcard", "ideal", "in3", "kbc", "klarna", "mybank", "paypal", "paysafecard",
     "przelewy24", "riverty", "satispay", "trustly", "twint", "voucher"}
)  # fmt: skip
_ENABLED_METHODS = frozenset({"ideal", "creditcard", "bancontact", "banktransfer", "paypal"})
_EUR_ONLY = frozenset({"ideal", "bancontact"})
_EXPIRY = {"creditcard": timedelta(minutes=30)}  # others: 15 minutes
_BANKS = {"ideal_ABNANL2A": "ABN AMRO", "ideal_INGBNL2A": "ING", "ideal_RABONL2U": "Rabobank"}
_CHANGED_AT = {
    "paid": "paidAt",
    "authorized": "authorizedAt",
    "failed": "failedAt",
    "canceled": "canceledAt",
    "expired": "expiredAt",
}
_DOCS = {"href": "https://docs.mollie.com/reference/handling-errors", "type": "text/html"}
_HAL = "application/hal+json"
_ID_CHARS = string.ascii_letters + string.digits


def _new_id(prefix: str) -> str:
    return prefix + "_" + "".join(secrets.choice(_ID_CHARS) for _ in range(10))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _problem(status: int, detail: str, field: str | None = None) -> JSONResponse:
    """Mollie's error object."""
    titles = {
        400: "Bad Request",
        401: "Unauthorized Request",
        404: "Not Found",
        409: "Conflict",
        422: "Unprocessable Entity",
    }
    body: dict[str, Any] = {"status": status, "title": titles[status], "detail": detail}
    if field:
        body["field"] = field
    body["_links"] = {"documentation": _DOCS}
    return JSONResponse(body, status_code=status, media_type=_HAL)


class _Refused(Exception):
    """A request Mollie would refuse: answered as its error object."""

    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


class LoopbackServer:
    """An ASGI app served by uvicorn in a background thread on a free loopback port."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        # IPPROTO_TCP named: asyncio then turns Nagle off on each connection (40 ms saved).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)  # connections made before uvicorn runs wait here
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app,
            log_config=None,  # leave the test run's logging alone
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="asyncio",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


class FakeMollie:
    """Mollie's payments API and checkout page, for one API key (a `test_` key: test mode)."""

    def __init__(
        self,
        api_key: str = API_KEY,
        *,
        cancelable_methods: frozenset[str] = frozenset({"creditcard", "bancontact"}),
    ) -> None:
        self.api_key = api_key
        self.cancelable_methods = cancelable_methods
        self.latency = 0.0  # seconds added before every API answer
        self.page_size = 250  # the most one list page holds, whatever `limit` asks
        self.send_webhooks = True  # False: record them in `webhook_calls` only
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._lock = threading.RLock()  # held by the app's handlers and the test's thread
        self._payments: dict[str, dict[str, Any]] = {}  # in the order made
        self._refunds: dict[str, list[dict[str, Any]]] = {}
        self._keys: dict[str, tuple[Any, tuple[int, bytes] | None]] = {}
        self._calls: list[tuple[str, str, str | None]] = []
        self._webhooks: list[tuple[str, bytes]] = []
        self._hangs: list[list[Any]] = []  # [method, path pattern, times left]
        self.hanging = threading.Event()  # set once a call took effect and hangs unanswered
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._release: asyncio.Event | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._server = LoopbackServer(self._app())
        self.url = self._server.url

    # -- running -------------------------------------------------------------------
    def start(self) -> None:
        self._server.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake Mollie did not start")

    def stop(self) -> None:
        self._free_hung()
        self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every payment and call, and undo the test controls (a fresh account)."""
        self._free_hung()
        with self._lock:
            for kept in (self._payments, self._refunds, self._keys):
                kept.clear()
            self._calls.clear()
            self._webhooks.clear()
            self._hangs.clear()
            self.hanging.clear()
        self.latency, self.page_size, self.send_webhooks = 0.0, 250, True
        self.now = lambda: datetime.now(UTC)

    # -- test controls -------------------------------------------------------------
    @property
    def calls(self) -> list[tuple[str, str, str | None]]:
        """Every API call: (method, path, Idempotency-Key)."""
        with self._lock:
            return list(self._calls)

    @property
    def webhook_calls(self) -> list[tuple[str, bytes]]:
        """Every webhook sent (or, with `send_webhooks` off, that would be): (url, body)."""
        with self._lock:
            return list(self._webhooks)

    def payment(self, payment_id: str) -> dict[str, Any]:
        """The payment as the API shows it."""
        with self._lock:
            return self._render(self._payments[payment_id])

    def payments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._render(p) for p in self._payments.values()]

    def refunds(self, payment_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._refunds.get(payment_id, [])]

    def set_status(self, payment_id: str, status: str) -> None:
        """What the fan's choice on the checkout page does: the status, then the webhook."""
        if status not in STATUSES:
            raise ValueError(f"Mollie has no payment status {status!r}")
        with self._lock:
            payment = self._payments[payment_id]
            changed = self._move(payment, status)
        if changed:
            self._webhook(payment)

    def refund_in_dashboard(self, payment_id: str) -> None:
        """The merchant refunds what is left of a paid payment in Mollie's dashboard."""
        with self._lock:
            payment = self._payments[payment_id]
            left = self._minor(payment["amount"]) - self._refunded(payment)
            self._add_refund(payment, left, "Refunded in the Mollie dashboard")
        self._webhook(payment)

    def payment_without_order(self, amount: int, currency: str, merchant_reference: str) -> str:
        """A paid payment marked as soldout's that soldout never asked for (reconciliation)."""
        with self._lock:
            payment = self._new_payment(
                {
                    "amount": self._json_amount(amount, currency),
                    "description": "made elsewhere",
                    "redirectUrl": "https://shop.example/return",
                    "method": "ideal",
                    "metadata": {"soldout_payment": merchant_reference},
                }
            )
            self._move(payment, "paid")
            return str(payment["id"])

    def hang_after(self, method: str, path: str, times: int = 1) -> None:
        """The next `times` calls of `method` on `path` (a glob: /v2/payments/*/refunds)
        take effect and are never answered, until the fake stops or resets."""
        with self._lock:
            self._hangs.append([method.upper(), path, times])

    # -- the app -------------------------------------------------------------------
    def _app(self) -> Starlette:
        api = self._api
        return Starlette(
            routes=[
                Route("/v2/payments", api(self._create), methods=["POST"]),
                Route("/v2/payments", api(self._list), methods=["GET"]),
                Route("/v2/payments/{id}", api(self._get), methods=["GET"]),
                Route("/v2/payments/{id}", api(self._cancel), methods=["DELETE"]),
                Route("/v2/payments/{id}/refunds", api(self._refund), methods=["POST"]),
                Route("/v2/payments/{id}/refunds", api(self._list_refunds), methods=["GET"]),
                Route("/v2/payments/{id}/captures", api(self._capture), methods=["POST"]),
                Route("/checkout/{id}", self._page, methods=["GET"]),
                Route("/checkout/{id}", self._choose, methods=["POST"]),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        async with httpx.AsyncClient(timeout=5) as self._http:
            self._ready.set()
            yield
            for task in list(self._sending):
                task.cancel()
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _api(
        self, handler: Callable[[Request, Any], tuple[int, Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """Mollie's side of every API call: the key, latency, idempotency, a hang."""

        async def endpoint(request: Request) -> Response:
            key = request.headers.get("Idempotency-Key")
            with self._lock:
                self._calls.append((request.method, request.url.path, key))
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return _problem(401, "Missing authentication, or failed to authenticate")
            if self.latency:
                await asyncio.sleep(self.latency)
            raw = await request.body()
            guarded = key if request.method in ("POST", "DELETE") else None
            try:
                body = self._json(request, raw)
                if guarded:
                    answer = self._once(guarded, (request.method, request.url.path, body))
                    if answer is not None:
                        return answer
                try:
                    with self._lock:
                        status, result = handler(request, body)
                except BaseException:
                    if guarded:  # refused: the key may be used again
                        with self._lock:
                            self._keys.pop(guarded, None)
                    raise
            except _Refused as refused:
                return _problem(refused.status, refused.detail, refused.field)
            content = json.dumps(result).encode()
            if guarded:
                with self._lock:
                    if guarded in self._keys:  # (not forgotten by a reset meanwhile)
                        self._keys[guarded] = (self._keys[guarded][0], (status, content))
            if self._hangs_now(request.method, request.url.path):
                assert self._release is not None
                self.hanging.set()
                await self._release.wait()
            return Response(content, status, media_type=_HAL)

        return endpoint

    def _json(self, request: Request, raw: bytes) -> Any:
        if not raw:
            return None
        if request.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise _Refused(400, "Send the body as application/json")
        try:
            return json.loads(raw)
        except ValueError:
            raise _Refused(400, "The request body is not valid JSON") from None

    def _once(self, key: str, fingerprint: Any) -> Response | None:
        """None for a key's first use; else the first answer replayed, or a refusal."""
        with self._lock:
            if key not in self._keys:
                self._keys[key] = (fingerprint, None)
                return None
            first, answer = self._keys[key]
        if first != fingerprint:
            return _problem(
                422, "The Idempotency-Key was already used for a request with other parameters"
            )
        if answer is None:
            return _problem(409, "A request with this Idempotency-Key is still in progress")
        status, content = answer
        headers = {"Idempotent-Replayed": "true"}
        return Response(content, status, headers=headers, media_type=_HAL)

    def _hangs_now(self, method: str, path: str) -> bool:
        with self._lock:
            for hang in self._hangs:
                if hang[0] == method and fnmatch.fnmatchcase(path, hang[1]) and hang[2] > 0:
                    hang[2] -= 1
                    return True
        return False

    def _free_hung(self) -> None:
        """Answer the calls left hanging (their callers have long given up)."""
        loop, release = self._loop, self._release
        if loop is None or release is None or loop.is_closed():
            return
        fresh = threading.Event()

        def renew() -> None:
            release.set()
            self._release = asyncio.Event()
            fresh.set()

        loop.call_soon_threadsafe(renew)
        fresh.wait(5)

    # -- payments ------------------------------------------------------------------
    def _create(self, request: Request, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            raise _Refused(422, "The request body must be a JSON object")
        amount = self._amount(body.get("amount"), "amount")
        description = body.get("description")
        if not isinstance(description, str) or not description.strip():
            raise _Refused(422, "The description is required", "description")
        if len(description) > 255:
            raise _Refused(422, "The description may be 255 characters at most", "description")
        self._url(body.get("redirectUrl"), "redirectUrl", required=True)
        self._url(body.get("cancelUrl"), "cancelUrl")
        self._url(body.get("webhookUrl"), "webhookUrl")
        method = body.get("method")
        for name in method if isinstance(method, list) else [method] if method else []:
            if name not in _KNOWN_METHODS:
                raise _Refused(422, f"The payment method '{name}' is invalid", "method")
            if name not in _ENABLED_METHODS:
                raise _Refused(422, "The payment method is not activated on the profile", "method")
            if name in _EUR_ONLY and amount["currency"] != "EUR":
                raise _Refused(422, f"{name} is not available for this currency", "method")
        if len(json.dumps(body.get("metadata"))) > 1024:
            raise _Refused(422, "The metadata may be 1 kB at most", "metadata")
        payment = self._new_payment(body)
        return 201, self._render(payment)

    def _new_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        method = body.get("method")
        single = method if isinstance(method, str) else None
        payment: dict[str, Any] = {
            "resource": "payment",
            "id": _new_id("tr"),
            "mode": "test" if self.api_key.startswith("test_") else "live",
            "createdAt": _stamp(now),
            "amount": dict(body["amount"]),
            "description": body["description"],
            "method": single,
            "metadata": body.get("metadata"),
            "status": "open",
            "expiresAt": _stamp(now + _EXPIRY.get(single or "", timedelta(minutes=15))),
            "profileId": "pfl_SoldoutFake",
            "sequenceType": "oneoff",
            "captureMode": body.get("captureMode", "automatic"),
            "redirectUrl": body["redirectUrl"],
        }
        for optional in ("cancelUrl", "webhookUrl"):
            if body.get(optional):
                payment[optional] = body[optional]
        self._payments[payment["id"]] = payment
        return payment

    def _get(self, request: Request, body: Any) -> tuple[int, Any]:
        return 200, self._render(self._find(request.path_params["id"]))

    def _list(self, request: Request, body: Any) -> tuple[int, Any]:
        try:
            limit = int(request.query_params.get("limit", "50"))
        except ValueError:
            raise _Refused(400, "The limit is not a number", "limit") from None
        if not 1 <= limit <= 250:
            raise _Refused(400, "The limit must be between 1 and 250", "limit")
        newest = list(reversed(self._payments.values()))
        start = 0
        if "from" in request.query_params:
            ids = [p["id"] for p in newest]
            if request.query_params["from"] not in ids:
                raise _Refused(400, "The payment to start from does not exist", "from")
            start = ids.index(request.query_params["from"])
        size = min(limit, self.page_size)
        page = newest[start : start + size]
        after = newest[start + size] if start + size < len(newest) else None
        here = f"{self.url}/v2/payments?" + urlencode({"limit": limit})
        links: dict[str, Any] = {"self": {"href": here, "type": _HAL}, "previous": None}
        links["next"] = None
        if after is not None:
            there = urlencode({"from": after["id"], "limit": limit})
            links["next"] = {"href": f"{self.url}/v2/payments?{there}", "type": _HAL}
        links["documentation"] = _DOCS
        embedded = {"payments": [self._render(p) for p in page]}
        return 200, {"count": len(page), "_embedded": embedded, "_links": links}

    def _cancel(self, request: Request, body: Any) -> tuple[int, Any]:
        payment = self._find(request.path_params["id"])
        if not self._cancelable(payment):
            raise _Refused(422, "The payment cannot be canceled")
        self._move(payment, "canceled")
        self._webhook(payment)
        return 200, self._render(payment)

    def _capture(self, request: Request, body: Any) -> tuple[int, Any]:
        payment = self._find(request.path_params["id"])
        if payment["status"] != "authorized":
            raise _Refused(422, "Only an authorized payment can be captured")
        wanted = payment["amount"]
        if isinstance(body, dict) and "amount" in body:
            wanted = self._amount(body["amount"], "amount")
            if wanted != payment["amount"]:
                raise _Refused(422, "Capture the full amount", "amount")
        self._move(payment, "paid")
        payment["amountCaptured"] = dict(wanted)
        self._webhook(payment)
        capture = {
            "resource": "capture",
            "id": _new_id("cpt"),
            "mode": payment["mode"],
            "amount": wanted,
            "status": "succeeded",
            "paymentId": payment["id"],
            "createdAt": _stamp(self.now()),
        }
        return 201, capture

    def _refund(self, request: Request, body: Any) -> tuple[int, Any]:
        payment = self._find(request.path_params["id"])
        if not isinstance(body, dict):
            raise _Refused(422, "The request body must be a JSON object")
        if payment["status"] != "paid":
            raise _Refused(422, "The payment cannot be refunded: it is not paid")
        amount = self._amount(body.get("amount"), "amount")
        if amount["currency"] != payment["amount"]["currency"]:
            raise _Refused(422, "Refund in the payment's currency", "amount.currency")
        value = self._minor(amount)
        if value > self._minor(payment["amount"]) - self._refunded(payment):
            raise _Refused(422, "The amount is higher than the amount remaining", "amount")
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > 140:
            raise _Refused(422, "The description may be 140 characters at most", "description")
        refund = self._add_refund(payment, value, description or payment["description"])
        self._webhook(payment)  # Mollie's, when the refund is processed: here at once
        return 201, refund

    def _list_refunds(self, request: Request, body: Any) -> tuple[int, Any]:
        payment = self._find(request.path_params["id"])
        refunds = self._refunds.get(payment["id"], [])
        links = {"self": {"href": f"{self.url}{request.url.path}", "type": _HAL}}
        return 200, {"count": len(refunds), "_embedded": {"refunds": refunds}, "_links": links}

    # -- the hosted page -------------------------------------------------------------
    async def _page(self, request: Request) -> Response:
        with self._lock:
            payment = self._payments.get(request.path_params["id"])
            shown = payment and dict(payment)
        if shown is None:
            return HTMLResponse("<!doctype html><title>Not found</title><h1>Not found</h1>", 404)
        if shown["status"] != "open":
            return RedirectResponse(shown["redirectUrl"], 303)
        amount = shown["amount"]
        price = format_currency(Decimal(amount["value"]), amount["currency"], locale="en")
        bank = ""
        if shown["method"] == "ideal":
            options = "".join(f'<option value="{k}">{v}</option>' for k, v in _BANKS.items())
            bank = f'<label>Select your bank <select name="issuer">{options}</select></label>'
        choices = ["paid", "failed", "canceled", "expired", "open"]
        if shown.get("captureMode") == "manual":
            choices.insert(0, "authorized")
        buttons = "".join(
            f'<button type="submit" name="status" value="{c}">{c.capitalize()}</button>'
            for c in choices
        )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            "<title>Mollie test payment</title></head><body><main>"
            f"<h1>Pay {html.escape(price)} — {html.escape(shown['description'])}</h1>"
            "<p>Test mode: choose the outcome of this payment.</p>"
            f'<form method="post" action="/checkout/{shown["id"]}">{bank}'
            f"<fieldset><legend>Payment status</legend>{buttons}</fieldset></form>"
            "</main></body></html>"
        )
        return HTMLResponse(page)

    async def _choose(self, request: Request) -> Response:
        choice = (await request.form()).get("status")
        with self._lock:
            payment = self._payments.get(request.path_params["id"])
            if payment is None:
                return HTMLResponse("<!doctype html><title>Not found</title>", 404)
            offered = {"paid", "failed", "canceled", "expired", "open"}
            if payment.get("captureMode") == "manual":
                offered.add("authorized")
            if choice not in offered:
                return HTMLResponse("<!doctype html><title>Choose a status</title>", 400)
            changed = payment["status"] == "open" and self._move(payment, str(choice))
            back = payment["redirectUrl"]
            if choice == "canceled" and payment.get("cancelUrl"):
                back = payment["cancelUrl"]
        if changed:
            self._webhook(payment)
        return RedirectResponse(back, 303)

    # -- state (the lock held) -------------------------------------------------------
    def _find(self, payment_id: str) -> dict[str, Any]:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise _Refused(404, f"No payment exists with token {payment_id}.")
        return payment

    def _move(self, payment: dict[str, Any], status: str) -> bool:
        if payment["status"] == status:
            return False
        payment["status"] = status
        if status in _CHANGED_AT:
            payment[_CHANGED_AT[status]] = _stamp(self.now())
        return True

    def _cancelable(self, payment: dict[str, Any]) -> bool:
        if payment["status"] == "authorized":
            return True
        return payment["status"] == "open" and payment["method"] in self.cancelable_methods

    def _add_refund(self, payment: dict[str, Any], value: int, description: str) -> dict[str, Any]:
        currency = payment["amount"]["currency"]
        refund = {
            "resource": "refund",
            "id": _new_id("re"),
            "mode": payment["mode"],
            "amount": self._json_amount(value, currency),
            "description": description,
            "status": "pending",
            "createdAt": _stamp(self.now()),
            "paymentId": payment["id"],
            "_links": {
                "self": {"href": f"{self.url}/v2/payments/{payment['id']}/refunds", "type": _HAL}
            },
        }
        self._refunds.setdefault(payment["id"], []).append(refund)
        return refund

    def _render(self, payment: dict[str, Any]) -> dict[str, Any]:
        """The payment as the API answers it: with its amounts left and its links."""
        shown = dict(payment)
        if payment["status"] in ("open", "pending", "authorized"):
            shown["isCancelable"] = self._cancelable(payment)
        currency = payment["amount"]["currency"]
        if payment["status"] == "paid":
            refunded = self._refunded(payment)
            left = self._minor(payment["amount"]) - refunded
            shown["amountRefunded"] = self._json_amount(refunded, currency)
            shown["amountRemaining"] = self._json_amount(left, currency)
        own = f"{self.url}/v2/payments/{payment['id']}"
        links: dict[str, Any] = {"self": {"href": own, "type": _HAL}}
        if payment["status"] == "open":
            page = f"{self.url}/checkout/{payment['id']}"
            links["checkout"] = {"href": page, "type": "text/html"}
        if self._refunds.get(payment["id"]):
            links["refunds"] = {"href": f"{own}/refunds", "type": _HAL}
        links["dashboard"] = {"href": f"{self.url}/dashboard/{payment['id']}", "type": "text/html"}
        links["documentation"] = _DOCS
        shown["_links"] = links
        return shown

    def _refunded(self, payment: dict[str, Any]) -> int:
        return sum(self._minor(r["amount"]) for r in self._refunds.get(payment["id"], []))

    # -- amounts and URLs --------------------------------------------------------------
    @staticmethod
    def _amount(amount: Any, field: str) -> dict[str, str]:
        if not isinstance(amount, dict):
            raise _Refused(422, "The amount is required", field)
        currency, value = amount.get("currency"), amount.get("value")
        if currency not in _CURRENCIES:
            raise _Refused(422, "The currency is not supported", f"{field}.currency")
        digits = _DECIMALS.get(currency, 2)
        shape = r"\d+" + (rf"\.\d{{{digits}}}" if digits else "")
        if not isinstance(value, str) or not re.fullmatch(shape, value):
            raise _Refused(
                422, f"The amount must be a string with {digits} decimals", f"{field}.value"
            )
        if Decimal(value) <= 0:
            raise _Refused(422, "The amount is lower than the minimum", f"{field}.value")
        return {"currency": currency, "value": value}

    @staticmethod
    def _minor(amount: dict[str, str]) -> int:
        return int(Decimal(amount["value"]).scaleb(_DECIMALS.get(amount["currency"], 2)))

    @staticmethod
    def _json_amount(minor: int, currency: str) -> dict[str, str]:
        digits = _DECIMALS.get(currency, 2)
        value = Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))
        return {"currency": currency, "value": str(value)}

    @staticmethod
    def _url(value: Any, field: str, *, required: bool = False) -> None:
        if value is None and not required:
            return
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Refused(422, f"The {field} is not a valid http(s) URL", field)

    # -- webhooks ----------------------------------------------------------------------
    def _webhook(self, payment: dict[str, Any]) -> None:
        """Tell the shop the payment changed: `id=tr_...`, posted from the server thread."""
        url = payment.get("webhookUrl")
        if not url:
            return
        body = urlencode({"id": payment["id"]}).encode()
        with self._lock:
            self._webhooks.append((url, body))
        if self.send_webhooks and self._loop is not None:
            self._loop.call_soon_threadsafe(self._spawn, url, body)

    def _spawn(self, url: str, body: bytes) -> None:
        task = asyncio.ensure_future(self._post(url, body))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _post(self, url: str, body: bytes) -> None:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Mollie HTTP client/1.0",
        }
        for attempt in range(3):  # a retry or two when the shop cannot be reached
            try:
                assert self._http is not None
                await self._http.post(url, content=body, headers=headers)
                return
            except httpx.TransportError as error:
                log.debug("webhook to %s failed (attempt %d): %s", url, attempt + 1, error)
                await asyncio.sleep(0.05 * (attempt + 1))
