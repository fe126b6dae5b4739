"""A strict local fake of Stripe's HTTP API: the parts soldout uses, served on loopback.

It answers the official SDK as Stripe would (same JSON shapes, errors and state rules) and
refuses what Stripe refuses: a wrong API key (401), unknown or missing parameters (400
with `param`), amounts that are not positive integers, a currency that is not a known
lower-case ISO code, a session `expires_at` outside 30 min to 24 h, a reused
`Idempotency-Key` with other parameters (`idempotency_error`; the same ones replay the
first answer exactly), and calls a PaymentIntent's state does not allow.

A session's `url` is the fake's own payment page, `GET /pay/<cs_id>`: Stripe's test cards
4242 4242 4242 4242 (paid), 4000 0000 0000 0002 (declined) and 4000 0027 6000 3184 (3-D
Secure). Paying completes the session (the PaymentIntent waits in `requires_capture`),
sends `checkout.session.completed` and redirects to `success_url`.

Every event is signed as Stripe signs (`Stripe-Signature: t=...,v1=...`), kept in
`events` and posted to `webhook_url` when set. Test controls are plain thread-safe
methods: `complete`, `expire`, `refund_in_dashboard`, `charge_without_session`,
`hang_after`, `reset`; and `latency`, `page_size`, `calls`.

Usage: `with FakeStripe(API_KEY, WEBHOOK_SECRET) as fake: StripePayments(API_KEY,
WEBHOOK_SECRET, api_base=fake.url)`.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import html
import json
import operator
import re
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
import uvicorn
from babel.numbers import format_currency, list_currencies
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["CARD_3DS", "CARD_DECLINED", "CARD_OK", "FakeStripe", "Outcome", "sign"]

Obj = dict[str, Any]
Outcome = Literal["succeeds", "declines", "3ds", "3ds_passes", "3ds_fails"]

CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_3DS = "4000002760003184"
API_VERSION = "2026-10-28.endive"
MAX_AMOUNT = 99_999_999  # Stripe: eight digits
# Stripe counts amounts in hundredths of every currency but these, whatever the currency's
# own smallest unit (docs.stripe.com/currencies): the fake shows and checks them as Stripe
# does, on its own (not from soldout's code, which it is here to test).
STRIPE_ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
STRIPE_THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def stripe_digits(currency: str) -> int:
    code = currency.lower()
    return 0 if code in STRIPE_ZERO_DECIMAL else 3 if code in STRIPE_THREE_DECIMAL else 2


CURRENCIES = frozenset(code.lower() for code in list_currencies())
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
EXPANDABLE = {
    "checkout.session": {"payment_intent"},
    "payment_intent": {"latest_charge"},
    "charge": {"payment_intent"},
    "refund": {"charge", "payment_intent"},
}


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends with `body` at `timestamp` (now)."""
    at = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256)
    return f"t={at},v1={mac.hexdigest()}"


class ApiError(Exception):
    """An answer in Stripe's error shape. `saved`: replayed to a retry with the same
    Idempotency-Key (Stripe saves no result for a request that failed validation)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
    ) -> None:
        super().__init__(message)
        self.status, self.saved = status, saved
        self.body: Obj = {"error": {"type": kind, "message": message}}
        self.body["error"].update({k: v for k, v in (("code", code), ("param", param)) if v})


def _invalid(param: str, message: str, code: str = "parameter_invalid") -> ApiError:
    return ApiError(400, message, code=code, param=param, saved=False)


def _missing(kind: str, param: str, object_id: str) -> ApiError:
    return ApiError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


# -- form bodies: Stripe's bracket nesting -------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(text: str) -> Obj:
    """`a[b][0][c]=x&e[]=y` as {"a": {"b": [{"c": "x"}]}, "e": ["y"]}."""
    root: Obj = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.match(key)
        if match is None:
            raise _invalid(key, f"Invalid parameter name: {key}")
        path = [match[1], *re.findall(r"\[([^\]]*)\]", match[2])]
        node = root
        for i, part in enumerate(path):
            step = part if part else str(len(node))  # `[]` appends
            if i == len(path) - 1:
                if step in node:
                    raise _invalid(key, f"Invalid array or hash: {key} is given twice")
                node[step] = value
            else:
                child = node.setdefault(step, {})
                if not isinstance(child, dict):
                    raise _invalid(key, f"Invalid array or hash: {key}")
                node = child
    parsed: Obj = _listify(root)
    return parsed


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        if sorted(int(k) for k in items) != list(range(len(items))):
            raise _invalid(next(iter(items)), "Invalid array: indexes must be 0, 1, 2, ...")
        return [items[str(i)] for i in range(len(items))]
    return items


# -- parameter specs: a name ending in "!" is required ------------------------------------

METADATA = "metadata"
SESSION_CREATE: Obj = {
    "mode!": "str",
    "line_items": [
        {
            "price_data!": {
                "currency!": "currency",
                "unit_amount!": "amount",
                "product_data!": {"name!": "str", "description": "str"},
            },
            "quantity!": "posint",
        }
    ],
    "allowed_payment_method_types": ["str"],
    "payment_intent_data": {"capture_method": "str", "metadata": METADATA, "description": "str"},
    "client_reference_id": "str",
    "customer_email": "str",
    "metadata": METADATA,
    "success_url!": "str",
    "cancel_url": "str",
    "expires_at": "int",
    "expand": ["str"],
}
LIST: Obj = {"limit": "int", "starting_after": "str", "created": "range", "expand": ["str"]}
SESSION_LIST: Obj = {**LIST, "payment_intent": "str", "status": "str"}
EXPAND: Obj = {"expand": ["str"]}
INTENT_UPDATE: Obj = {**EXPAND, "metadata": METADATA, "description": "str"}
CAPTURE: Obj = {**EXPAND, "amount_to_capture": "posint", "metadata": METADATA}
CANCEL: Obj = {**EXPAND, "cancellation_reason": "str"}
REFUND_CREATE: Obj = {
    **EXPAND,
    "payment_intent": "str",
    "charge": "str",
    "amount": "amount",
    "reason": "str",
    "metadata": METADATA,
}


def check(value: Any, spec: Any, name: str = "") -> Any:
    """`value` (parsed form) checked against `spec` and converted (integers)."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _invalid(name, f"Invalid object: {name}")
        fields = {k.rstrip("!"): (v, k.endswith("!")) for k, v in spec.items()}
        out = {}
        for key, item in value.items():
            param = f"{name}[{key}]" if name else key
            if key not in fields:
                raise _invalid(param, f"Received unknown parameter: {param}", "parameter_unknown")
            out[key] = check(item, fields[key][0], param)
        for key, (_, required) in fields.items():
            if required and key not in value:
                param = f"{name}[{key}]" if name else key
                raise _invalid(param, f"Missing required param: {param}.", "parameter_missing")
        return out
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise _invalid(name, f"Invalid array: {name}")
        return [check(item, spec[0], f"{name}[{i}]") for i, item in enumerate(value)]
    if spec == METADATA:
        return _metadata(value, name)
    if spec == "range":
        if isinstance(value, dict):
            return check(value, dict.fromkeys(("gt", "gte", "lt", "lte"), "int"), name)
        return check(value, "int", name)
    if not isinstance(value, str):
        raise _invalid(name, f"Invalid {spec}: {name} must be a single value")
    if spec == "str":
        if len(value) > 5000:
            raise _invalid(name, f"{name} is longer than 5000 characters")
        return value
    if spec == "currency":
        if value not in CURRENCIES:
            raise _invalid(name, f"Invalid currency: {value}. Use a lower-case ISO code.")
        return value
    if not re.fullmatch(r"-?[0-9]+", value):
        raise _invalid(name, f"Invalid integer: {value}", "parameter_invalid_integer")
    number = int(value)
    if spec in ("posint", "amount") and number < 1:
        raise _invalid(name, "This value must be greater than or equal to 1.", "amount_too_small")
    if spec == "amount" and number > MAX_AMOUNT:
        raise _invalid(name, f"Amount must be no more than {MAX_AMOUNT}", "amount_too_large")
    return number


def _metadata(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 50:
        raise _invalid(name, "Metadata must be a hash of at most 50 keys")
    for key, item in value.items():
        if not isinstance(item, str) or len(key) > 40 or len(item) > 500:
            raise _invalid(f"{name}[{key}]", "Metadata keys are up to 40 characters, values 500")
    return {k: v for k, v in value.items() if v != ""}


# -- the fake ----------------------------------------------------------------------------


@dataclass
class _Saved:
    request: tuple[str, str, Obj]
    answer: tuple[int, bytes] | None = None  # None while the first request runs


Handler = Callable[..., Obj]


class FakeStripe:
    """Stripe's API on a free loopback port, in a background thread (see the module)."""

    def __init__(self, api_key: str, webhook_secret: str) -> None:
        self.api_key, self.webhook_secret = api_key, webhook_secret
        self.url = ""
        self.webhook_url: str | None = None
        self.latency = 0.0  # seconds before every API answer (other requests go on meanwhile)
        self.page_size = 100  # the most a list answers, below the `limit` asked for
        self.calls: list[tuple[str, str, str | None]] = []  # (method, path, Idempotency-Key)
        self.events: list[tuple[bytes, dict[str, str]]] = []  # (body, headers), as sent
        self.deliveries: list[tuple[str, int]] = []  # (event id, HTTP status) at webhook_url
        self._lock = threading.RLock()
        self._objects: dict[str, Obj] = {}  # by id, in creation order
        self._private: dict[str, Obj] = {}  # what Stripe keeps but does not show
        self._saved: dict[str, _Saved] = {}  # by Idempotency-Key
        self._hang: int | str | None = None
        self._hung: list[asyncio.Event] = []
        self.hanging = threading.Event()  # set once a call took effect and hangs unanswered
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=self._routes())

    # -- running ---------------------------------------------------------------------
    def start(self) -> FakeStripe:
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only then (else 40 ms per answer).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            ws="none",
            http="h11",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = self._server = uvicorn.Server(config)

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake Stripe did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._release_hung()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = self._loop = None

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every object, call and event; undo `latency`, `page_size`, `hang_after`
        and `webhook_url` (a module-wide fake between tests)."""
        self._release_hung()
        self.hanging.clear()
        with self._lock:
            self._objects.clear()
            self._private.clear()
            self._saved.clear()
            self.calls.clear()
            self.events.clear()
            self.deliveries.clear()
            self._hang, self.latency, self.page_size, self.webhook_url = None, 0.0, 100, None

    # -- test controls ---------------------------------------------------------------
    def complete(self, session_id: str, outcome: Outcome = "succeeds") -> None:
        """What the fan does on the payment page: pay with a good card, a declined one,
        a 3-D Secure one (the challenge then waits), or pass or fail that challenge.
        Raises ValueError when the page would refuse (the session is not open)."""
        with self._lock:
            try:
                if outcome in ("3ds_passes", "3ds_fails"):
                    self._challenge(session_id, passed=outcome == "3ds_passes")
                else:
                    card = {"succeeds": CARD_OK, "declines": CARD_DECLINED, "3ds": CARD_3DS}
                    self._attempt(session_id, card[outcome])
            except ApiError as refused:
                raise ValueError(str(refused)) from None

    def expire(self, session_id: str) -> None:
        """The session reaches its `expires_at`."""
        with self._lock:
            self._expire_session(self._get("checkout.session", session_id, "session"))

    def refund_in_dashboard(self, intent_id: str) -> str:
        """Someone refunds the whole payment in Stripe's dashboard; returns the refund's id."""
        with self._lock:
            intent = self._get("payment_intent", intent_id, "intent")
            refund = self._create_refund(intent, None, None, {})
            return str(refund["id"])

    def charge_without_session(self, amount: int, currency: str, merchant_reference: str) -> str:
        """A captured PaymentIntent carrying soldout's metadata that soldout never asked
        for (money without an order); returns its id."""
        with self._lock:
            intent = self._new_intent(
                amount, currency.lower(), {"soldout_payment": merchant_reference}
            )
            self._authorize(intent, capture=True)
            return str(intent["id"])

    def hang_after(self, what: int | str) -> None:
        """The next call to the path `what` (or the call after `what` more calls) takes
        effect and is saved for its Idempotency-Key, but is never answered."""
        with self._lock:
            self._hang = what

    def get(self, object_id: str) -> Obj:
        with self._lock:
            return copy.deepcopy(self._objects[object_id])

    def all(self, kind: str) -> list[Obj]:
        """Every object of `kind` ("checkout.session", "payment_intent", "refund", ...)."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values() if o["object"] == kind]

    def events_of(self, kind: str) -> list[tuple[bytes, dict[str, str]]]:
        with self._lock:
            return [(b, h) for b, h in self.events if json.loads(b)["type"] == kind]

    # -- the API -----------------------------------------------------------------------
    def _routes(self) -> list[Route]:
        api = self._api
        return [
            Route("/v1/checkout/sessions", api(self._create_session), methods=["POST"]),
            Route("/v1/checkout/sessions", api(self._list_sessions), methods=["GET"]),
            Route("/v1/checkout/sessions/{id}", api(self._retrieve_session), methods=["GET"]),
            Route("/v1/checkout/sessions/{id}/expire", api(self._expire), methods=["POST"]),
            Route("/v1/payment_intents", api(self._list_intents), methods=["GET"]),
            Route("/v1/payment_intents/{id}", api(self._retrieve_intent), methods=["GET"]),
            Route("/v1/payment_intents/{id}", api(self._update_intent), methods=["POST"]),
            Route("/v1/payment_intents/{id}/capture", api(self._capture), methods=["POST"]),
            Route("/v1/payment_intents/{id}/cancel", api(self._cancel), methods=["POST"]),
            Route("/v1/refunds", api(self._refund), methods=["POST"]),
            Route("/v1/charges/{id}", api(self._retrieve_charge), methods=["GET"]),
            Route("/v1/{rest:path}", api(self._unknown), methods=["GET", "POST", "DELETE"]),
            Route("/pay/{id}", self._page, methods=["GET", "POST"]),
            Route("/pay/{id}/challenge", self._page_challenge, methods=["POST"]),
        ]

    def _api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Auth, parameters, Idempotency-Key, latency and hangs around one endpoint."""

        async def endpoint(request: Request) -> Response:
            method, path = request.method, request.url.path
            key = request.headers.get("idempotency-key")
            with self._lock:
                self.calls.append((method, path, key))
                hang = self._take_hang(path)
            try:
                self._authenticate(request.headers.get("authorization", ""))
                raw = (await request.body()).decode() if method == "POST" else request.url.query
                params = parse_form(raw)
                saved = self._reserve(key, (method, path, params)) if method == "POST" else None
            except ApiError as error:
                return _json(error.status, error.body)
            if saved is not None:
                return Response(saved[1], saved[0], _headers(key, replayed=True))
            if self.latency:
                await asyncio.sleep(self.latency)
            with self._lock:
                try:
                    status, body = 200, handler(params, **request.path_params)
                except ApiError as error:
                    status, body = error.status, error.body
                    if not error.saved and key:
                        self._saved.pop(key, None)
                encoded = json.dumps(body, indent=2).encode()
                if key in self._saved:
                    self._saved[key].answer = (status, encoded)
            if hang:
                released = asyncio.Event()
                with self._lock:
                    self._hung.append(released)
                self.hanging.set()
                await released.wait()
            return Response(encoded, status, _headers(key))

        return endpoint

    def _authenticate(self, header: str) -> None:
        if not header.startswith("Bearer ") or not header[7:]:
            raise ApiError(401, "You did not provide an API key. Use Authorization: Bearer.")
        given = header[7:]
        if not hmac.compare_digest(given, self.api_key):
            shown = (
                given[: given.find("_", 3) + 1] + "*" * 8 + (given[-4:] if len(given) > 12 else "")
            )
            raise ApiError(401, f"Invalid API Key provided: {shown}")

    def _reserve(self, key: str | None, request: tuple[str, str, Obj]) -> tuple[int, bytes] | None:
        """The saved answer to replay for `key`, or None after reserving it for this one."""
        if key is None:
            return None
        with self._lock:
            saved = self._saved.get(key)
            if saved is None:
                self._saved[key] = _Saved(request)
                return None
        if saved.request != request:
            raise ApiError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they"
                f" were first used with. Try using a key other than '{key}' if you meant to"
                " execute a different request.",
                kind="idempotency_error",
                saved=False,
            )
        if saved.answer is None:
            raise ApiError(
                409,
                "There is currently another in-progress request using this Idempotent Key"
                " (that probably means you submitted twice, and the other request is still"
                " going through): " + key,
                code="idempotency_key_in_use",
                saved=False,
            )
        return saved.answer

    def _take_hang(self, path: str) -> bool:
        if isinstance(self._hang, str):
            hit = path.startswith(self._hang)
        elif isinstance(self._hang, int):
            hit, self._hang = self._hang == 0, self._hang - 1
        else:
            return False
        if hit:
            self._hang = None
        return hit

    def _release_hung(self) -> None:
        with self._lock:
            loop, hung = self._loop, list(self._hung)
            self._hung.clear()
        if loop is not None:
            for event in hung:
                loop.call_soon_threadsafe(event.set)

    def _unknown(self, params: Obj, rest: str) -> Obj:
        raise ApiError(404, f"Unrecognized request URL: /v1/{rest}.")

    # -- checkout sessions -------------------------------------------------------------
    def _create_session(self, params: Obj) -> Obj:
        p = check(params, SESSION_CREATE)
        if p["mode"] != "payment":
            raise _invalid("mode", "This fake knows mode=payment only")
        items = p.get("line_items")
        if not items:
            raise _invalid("line_items", "Missing required param: line_items.", "parameter_missing")
        currencies = {item["price_data"]["currency"] for item in items}
        if len(currencies) > 1:
            raise _invalid("line_items", "All line items must be in the same currency")
        total = sum(item["price_data"]["unit_amount"] * item["quantity"] for item in items)
        if total > MAX_AMOUNT:
            raise _invalid("line_items", "The total amount is too large", "amount_too_large")
        currency = next(iter(currencies))
        if currency in STRIPE_THREE_DECIMAL and total % 10:
            raise _invalid(
                "line_items[0][price_data][unit_amount]",
                f"Amounts in {currency.upper()} must end in 0 (three-decimal currency)",
            )
        methods = p.get("allowed_payment_method_types", ["card"])
        for i, method in enumerate(methods):
            if method != "card":
                raise _invalid(
                    f"allowed_payment_method_types[{i}]",
                    f"The payment method type provided: {method} is invalid.",
                )
        intent_data = p.get("payment_intent_data", {})
        capture = intent_data.get("capture_method", "automatic_async")
        if capture not in ("automatic", "automatic_async", "manual"):
            raise _invalid("payment_intent_data[capture_method]", f"Invalid value: {capture}")
        now = int(time.time())
        expires_at = p.get("expires_at", now + 24 * 3600)
        if expires_at < now + 30 * 60:
            raise _invalid(
                "expires_at",
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session"
                " creation.",
            )
        if expires_at > now + 24 * 3600:
            raise _invalid(
                "expires_at",
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session"
                " creation.",
            )
        session_id = _new_id("cs_test")
        session = self._add(
            {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": total,
                "amount_total": total,
                "cancel_url": p.get("cancel_url"),
                "client_reference_id": p.get("client_reference_id"),
                "created": now,
                "currency": currencies.pop(),
                "customer_email": p.get("customer_email"),
                "expires_at": expires_at,
                "livemode": False,
                "metadata": p.get("metadata", {}),
                "mode": "payment",
                "payment_intent": None,
                "allowed_payment_method_types": p.get("allowed_payment_method_types"),
                "payment_method_types": methods,
                "payment_status": "unpaid",
                "status": "open",
                "success_url": p["success_url"],
                "url": f"{self.url}/pay/{session_id}",
            }
        )
        self._private[session_id] = {
            "name": items[0]["price_data"]["product_data"]["name"],
            "intent_data": {**intent_data, "capture_method": capture},
        }
        return self._expand(session, p.get("expand", []))

    def _list_sessions(self, params: Obj) -> Obj:
        p = check(params, SESSION_LIST)

        def wanted(s: Obj) -> bool:
            return all(p[field] == s[field] for field in ("payment_intent", "status") if field in p)

        return self._list("checkout.session", "/v1/checkout/sessions", p, wanted)

    def _retrieve_session(self, params: Obj, id: str) -> Obj:
        p = check(params, EXPAND)
        return self._expand(self._get("checkout.session", id, "session"), p.get("expand", []))

    def _expire(self, params: Obj, id: str) -> Obj:
        p = check(params, EXPAND)
        session = self._get("checkout.session", id, "session")
        self._expire_session(session)
        return self._expand(session, p.get("expand", []))

    def _expire_session(self, session: Obj) -> None:
        if session["status"] != "open":
            raise ApiError(
                400,
                f"Only Checkout Sessions with a status of open can be expired; this one is"
                f" {session['status']}.",
                code="checkout_session_not_open",
            )
        session.update(status="expired", url=None)
        if session["payment_intent"]:
            self._cancel_intent(self._objects[session["payment_intent"]], "abandoned")
        self._emit("checkout.session.expired", session)

    # -- the payment page's steps ---------------------------------------------------
    def _attempt(self, session_id: str, card: str) -> str:
        """One card on the page: "paid", "declined", "challenge" or "invalid"."""
        session = self._open_session(session_id)
        if card not in (CARD_OK, CARD_DECLINED, CARD_3DS):
            return "invalid"
        intent = self._intent_of(session)
        if card == CARD_DECLINED:
            self._fail(intent, "card_declined", "Your card was declined.")
            return "declined"
        if card == CARD_3DS:
            intent.update(status="requires_action", next_action={"type": "use_stripe_sdk"})
            self._emit("payment_intent.requires_action", intent)
            return "challenge"
        self._pay(session, intent)
        return "paid"

    def _challenge(self, session_id: str, *, passed: bool) -> None:
        session = self._open_session(session_id)
        intent = self._intent_of(session)
        if intent["status"] != "requires_action":
            raise ApiError(400, "No 3-D Secure challenge is waiting on this page")
        if passed:
            self._pay(session, intent)
        else:
            self._fail(
                intent,
                "payment_intent_authentication_failure",
                "We are unable to authenticate your payment method.",
            )

    def _open_session(self, session_id: str) -> Obj:
        session = self._get("checkout.session", session_id, "session")
        if session["status"] != "open":
            raise ApiError(
                410, f"This Checkout Session is {session['status']}; it takes no payment"
            )
        return session

    def _intent_of(self, session: Obj) -> Obj:
        """The session's PaymentIntent, made at the first attempt to pay (as Stripe does)."""
        if session["payment_intent"]:
            return self._objects[session["payment_intent"]]
        data = self._private[session["id"]]["intent_data"]
        intent = self._new_intent(
            session["amount_total"],
            session["currency"],
            data.get("metadata", {}),
            capture_method=data["capture_method"],
            description=data.get("description"),
        )
        session["payment_intent"] = intent["id"]
        self._private[intent["id"]] = {"session": session["id"]}
        return intent

    def _fail(self, intent: Obj, code: str, message: str) -> None:
        error = {"type": "card_error", "code": code, "message": message}
        intent.update(status="requires_payment_method", last_payment_error=error, next_action=None)
        self._emit("payment_intent.payment_failed", intent)

    def _pay(self, session: Obj, intent: Obj) -> None:
        capture = intent["capture_method"] != "manual"
        self._authorize(intent, capture=capture)
        session.update(status="complete", url=None, payment_status="paid" if capture else "unpaid")
        self._emit("checkout.session.completed", session)

    # -- payment intents -----------------------------------------------------------------
    def _new_intent(
        self,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        *,
        capture_method: str = "automatic",
        description: str | None = None,
    ) -> Obj:
        if amount < 1 or currency not in CURRENCIES:
            raise ValueError(f"not a payable amount: {amount} {currency}")
        return self._add(
            {
                "id": _new_id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_received": 0,
                "canceled_at": None,
                "cancellation_reason": None,
                "capture_method": capture_method,
                "created": int(time.time()),
                "currency": currency,
                "description": description,
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": dict(metadata),
                "next_action": None,
                "payment_method_types": ["card"],
                "status": "requires_payment_method",
            }
        )

    def _authorize(self, intent: Obj, *, capture: bool) -> None:
        amount = intent["amount"]
        charge = self._add(
            {
                "id": _new_id("ch"),
                "object": "charge",
                "amount": amount,
                "amount_captured": amount if capture else 0,
                "amount_refunded": 0,
                "captured": capture,
                "created": int(time.time()),
                "currency": intent["currency"],
                "livemode": False,
                "metadata": {},
                "paid": True,
                "payment_intent": intent["id"],
                "refunded": False,
                "status": "succeeded",
            }
        )
        intent.update(latest_charge=charge["id"], last_payment_error=None, next_action=None)
        if capture:
            intent.update(status="succeeded", amount_received=amount)
        else:
            intent.update(status="requires_capture", amount_capturable=amount)
        self._emit("charge.succeeded", charge)
        kind = "succeeded" if capture else "amount_capturable_updated"
        self._emit(f"payment_intent.{kind}", intent)

    def _list_intents(self, params: Obj) -> Obj:
        p = check(params, LIST)
        return self._list("payment_intent", "/v1/payment_intents", p, lambda _: True)

    def _retrieve_intent(self, params: Obj, id: str) -> Obj:
        p = check(params, EXPAND)
        return self._expand(self._get("payment_intent", id, "intent"), p.get("expand", []))

    def _update_intent(self, params: Obj, id: str) -> Obj:
        p = check(params, INTENT_UPDATE)
        intent = self._get("payment_intent", id, "intent")
        if "metadata" in p:
            intent["metadata"] = {**intent["metadata"], **p["metadata"]}
        if "description" in p:
            intent["description"] = p["description"]
        return self._expand(intent, p.get("expand", []))

    def _capture(self, params: Obj, id: str) -> Obj:
        p = check(params, CAPTURE)
        intent = self._get("payment_intent", id, "intent")
        if intent["status"] != "requires_capture":
            raise _unexpected(intent, "captured", ["requires_capture"])
        amount = p.get("amount_to_capture", intent["amount_capturable"])
        if amount > intent["amount_capturable"]:
            raise _invalid("amount_to_capture", "The amount to capture is more than authorized")
        charge = self._objects[intent["latest_charge"]]
        charge.update(
            captured=True, amount_captured=amount, amount_refunded=intent["amount"] - amount
        )
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        intent["metadata"].update(p.get("metadata", {}))
        session_id = self._private.get(intent["id"], {}).get("session")
        if session_id:
            self._objects[session_id]["payment_status"] = "paid"
        self._emit("charge.captured", charge)
        self._emit("payment_intent.succeeded", intent)
        return self._expand(intent, p.get("expand", []))

    def _cancel(self, params: Obj, id: str) -> Obj:
        p = check(params, CANCEL)
        intent = self._get("payment_intent", id, "intent")
        reason = p.get("cancellation_reason")
        known = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
        if reason is not None and reason not in known:
            raise _invalid("cancellation_reason", f"Invalid cancellation_reason: {reason}")
        if intent["status"] not in CANCELABLE:
            raise _unexpected(intent, "canceled", list(CANCELABLE))
        session_id = self._private.get(intent["id"], {}).get("session")
        if session_id and intent["status"] != "requires_capture":
            raise ApiError(
                400,
                "You can only cancel the PaymentIntent of a Checkout Session when it is"
                f" requires_capture; expire the Checkout Session {session_id} instead.",
                code="payment_intent_unexpected_state",
            )
        self._cancel_intent(intent, reason)
        return self._expand(intent, p.get("expand", []))

    def _cancel_intent(self, intent: Obj, reason: str | None) -> None:
        if intent["status"] == "canceled":
            return
        if intent["latest_charge"] and intent["status"] == "requires_capture":
            charge = self._objects[intent["latest_charge"]]
            charge.update(refunded=True, amount_refunded=charge["amount"])
        intent.update(  # (Stripe clears `last_payment_error` on any later update)
            status="canceled",
            canceled_at=int(time.time()),
            cancellation_reason=reason,
            amount_capturable=0,
            next_action=None,
            last_payment_error=None,
        )
        self._emit("payment_intent.canceled", intent)

    # -- refunds and charges ---------------------------------------------------------------
    def _refund(self, params: Obj) -> Obj:
        p = check(params, REFUND_CREATE)
        if ("payment_intent" in p) == ("charge" in p):
            raise _invalid(
                "payment_intent", "Give one of payment_intent or charge", "parameter_missing"
            )
        if "charge" in p:
            charge = self._get("charge", p["charge"], "charge")
            intent = self._objects[charge["payment_intent"]]
        else:
            intent = self._get("payment_intent", p["payment_intent"], "payment_intent")
        reason = p.get("reason")
        if reason is not None and reason not in (
            "duplicate",
            "fraudulent",
            "requested_by_customer",
        ):
            raise _invalid("reason", f"Invalid reason: {reason}")
        refund = self._create_refund(intent, p.get("amount"), reason, p.get("metadata", {}))
        return self._expand(refund, p.get("expand", []))

    def _create_refund(
        self, intent: Obj, amount: int | None, reason: str | None, metadata: dict[str, str]
    ) -> Obj:
        if intent["status"] != "succeeded":
            raise ApiError(
                400,
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                code="charge_not_refundable",
            )
        charge = self._objects[intent["latest_charge"]]
        left = charge["amount_captured"] - charge["amount_refunded"]
        if left <= 0:
            raise ApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = left if amount is None else amount
        if amount > left:
            raise _invalid(
                "amount",
                f"Refund amount ({amount}) is greater than unrefunded amount ({left})",
                "amount_too_large",
            )
        refund = self._add(
            {
                "id": _new_id("re"),
                "object": "refund",
                "amount": amount,
                "charge": charge["id"],
                "created": int(time.time()),
                "currency": charge["currency"],
                "metadata": metadata,
                "payment_intent": intent["id"],
                "reason": reason,
                "status": "succeeded",
            }
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge)
        return refund

    def _retrieve_charge(self, params: Obj, id: str) -> Obj:
        p = check(params, EXPAND)
        return self._expand(self._get("charge", id, "charge"), p.get("expand", []))

    # -- objects, lists, expansion -------------------------------------------------------
    def _add(self, obj: Obj) -> Obj:
        self._objects[obj["id"]] = obj
        return obj

    def _get(self, kind: str, object_id: str, param: str) -> Obj:
        found = self._objects.get(object_id)
        if found is None or found["object"] != kind:
            raise _missing(
                kind.replace("checkout.", "checkout ").replace(".", " "), param, object_id
            )
        return found

    def _list(self, kind: str, url: str, p: Obj, wanted: Callable[[Obj], bool]) -> Obj:
        limit = p.get("limit", 10)
        if not 1 <= limit <= 100:
            raise _invalid("limit", "limit must be between 1 and 100")
        created = p.get("created", {})
        bounds = created if isinstance(created, dict) else {"gte": created, "lte": created}
        found = [
            o
            for o in reversed(self._objects.values())  # newest first, as Stripe lists
            if o["object"] == kind
            and wanted(o)
            and all(COMPARE[op](o["created"], at) for op, at in bounds.items())
        ]
        found.sort(key=lambda o: -o["created"])  # stable: among equal seconds, newest first
        after = p.get("starting_after")
        if after is not None:
            ids = [o["id"] for o in found]
            if after not in ids:
                raise _missing(kind, "starting_after", after)
            found = found[ids.index(after) + 1 :]
        size = min(limit, self.page_size)
        expand = p.get("expand", [])
        if any(not path.startswith("data.") for path in expand):
            raise _invalid("expand", "Expand list items as data.<field>")
        items = [self._expand(o, [path[5:] for path in expand]) for o in found[:size]]
        return {"object": "list", "data": items, "has_more": len(found) > size, "url": url}

    def _expand(self, obj: Obj, paths: list[str]) -> Obj:
        out = copy.deepcopy(obj)
        for path in paths:
            node = out
            for field in path.split("."):
                if field not in EXPANDABLE.get(node.get("object", ""), set()):
                    raise _invalid("expand", f"This property cannot be expanded ({path}).")
                value = node[field]
                if isinstance(value, str):
                    value = node[field] = copy.deepcopy(self._objects[value])
                if value is None:
                    break
                node = value
        return out

    # -- events ------------------------------------------------------------------------
    def _emit(self, kind: str, obj: Obj) -> None:
        event: Obj = {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
        body = json.dumps(event, indent=2).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(body, self.webhook_secret),
        }
        self.events.append((body, headers))
        if self.webhook_url and self._loop is not None:
            self._loop.call_soon_threadsafe(
                self._spawn_delivery, self.webhook_url, event["id"], body
            )

    def _spawn_delivery(self, url: str, event_id: str, body: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(url, event_id, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, event_id: str, body: bytes) -> None:
        """Post one event (signed afresh at each try, as Stripe does); three tries when the
        receiver cannot be reached."""
        async with httpx.AsyncClient(timeout=10) as client:
            for attempt in range(3):
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": sign(body, self.webhook_secret),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                }
                try:
                    answer = await client.post(url, content=body, headers=headers)
                except httpx.TransportError:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                with self._lock:
                    self.deliveries.append((event_id, answer.status_code))
                return

    # -- the payment page --------------------------------------------------------------
    async def _page(self, request: Request) -> Response:
        session_id = request.path_params["id"]
        form = dict(parse_qsl((await request.body()).decode()))
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session["object"] != "checkout.session":
                return _html(404, "Not found", "<h1>This payment page does not exist</h1>")
            if request.method == "GET":
                return self._render(session)
            card = {"decline": CARD_DECLINED, "3ds": CARD_3DS}.get(
                form.get("use", ""), re.sub(r"\D", "", form.get("card", ""))
            )
            try:
                result = self._attempt(session_id, card)
            except ApiError as refused:
                return _html(refused.status, "Closed", f"<h1>{html.escape(str(refused))}</h1>")
            return self._after(session, result)

    async def _page_challenge(self, request: Request) -> Response:
        session_id = request.path_params["id"]
        form = dict(parse_qsl((await request.body()).decode()))
        with self._lock:
            try:
                self._challenge(session_id, passed=form.get("action") == "complete")
            except ApiError as refused:
                return _html(refused.status, "Closed", f"<h1>{html.escape(str(refused))}</h1>")
            session = self._objects[session_id]
            return self._after(session, "paid" if session["status"] == "complete" else "failed")

    def _after(self, session: Obj, result: str) -> Response:
        if result == "paid":
            target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
            return RedirectResponse(target, status_code=303)
        if result == "challenge":
            body = (
                f"<h1>3-D Secure: confirm {html.escape(_price(session))}</h1>"
                f'<form method="post" action="/pay/{session["id"]}/challenge">'
                '<button name="action" value="complete">Complete</button> '
                '<button name="action" value="fail">Fail</button></form>'
            )
            return _html(200, "3-D Secure", body)
        message = {
            "declined": "Your card was declined.",
            "failed": "We are unable to authenticate your payment method.",
        }.get(result, "Your card number is invalid.")
        return self._render(session, message, status=402 if result != "invalid" else 400)

    def _render(self, session: Obj, message: str = "", status: int = 200) -> Response:
        if session["status"] == "expired":
            return _html(410, "Expired", "<h1>This payment page has expired</h1>")
        if session["status"] == "complete":
            return _html(200, "Paid", "<h1>This payment is complete</h1>")
        name = self._private[session["id"]]["name"]
        error = f'<p role="alert">{html.escape(message)}</p>' if message else ""
        body = (
            f"<h1>Pay {html.escape(_price(session))} to {html.escape(name)}</h1>{error}"
            f'<form method="post" action="/pay/{session["id"]}">'
            '<label>Card number <input name="card" value="4242 4242 4242 4242"'
            ' autocomplete="cc-number" inputmode="numeric"></label> '
            '<button name="use" value="card">Pay</button> '
            '<button name="use" value="decline">Decline</button> '
            '<button name="use" value="3ds">3-D Secure</button></form>'
            f'<p><a href="{html.escape(session["cancel_url"] or session["success_url"])}">'
            "Cancel and go back</a></p>"
        )
        return _html(status, "Pay", body)


def _unexpected(intent: Obj, done: str, allowed: list[str]) -> ApiError:
    return ApiError(
        400,
        f"This PaymentIntent could not be {done} because it has a status of"
        f" {intent['status']}. Only a PaymentIntent with one of the following statuses may be"
        f" {done}: {', '.join(allowed)}.",
        code="payment_intent_unexpected_state",
    )


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _headers(key: str | None, *, replayed: bool = False) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Request-Id": _new_id("req")}
    if key:
        headers["Idempotency-Key"] = key
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers


def _json(status: int, body: Obj) -> Response:
    return Response(json.dumps(body, indent=2).encode(), status, _headers(None))


def _price(session: Obj) -> str:
    currency = session["currency"].upper()
    amount = Decimal(session["amount_total"]).scaleb(-stripe_digits(currency))
    return str(format_currency(amount, currency, locale="en"))


def _html(status: int, title: str, body: str) -> HTMLResponse:
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><main>{body}</main></body></html>"
    )
    return HTMLResponse(page, status)
