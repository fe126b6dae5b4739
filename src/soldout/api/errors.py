"""The one place where errors become HTTP: status codes and the error body shape

{"error": {"code": "sold_out", "message": "sold out", "field": "sku"}}
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from soldout.api.json_body import is_json
from soldout.domain import errors as e

__all__ = ["NotFoundPage", "error_body", "extra_headers", "install_handlers", "status_for"]

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[e.DomainError], int]] = [
    (e.MalformedBody, 400),
    (e.WebhookRejected, 400),
    (e.InvalidInput, 422),
    (e.Unauthorized, 401),
    (e.Forbidden, 403),
    (e.ReservationRequired, 403),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.PaymentPending, 409),
    (e.PaymentDeclined, 402),
    (e.PaymentFailed, 502),
    (e.StorageUnavailable, 503),
    (e.RateLimited, 429),
]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


_STATUS_BY_TYPE: dict[type[e.DomainError], int] = {}


def status_for(error: e.DomainError) -> int:
    kind = type(error)
    status = _STATUS_BY_TYPE.get(kind)
    if status is None:
        status = next((s for k, s in _STATUS if isinstance(error, k)), 400)
        _STATUS_BY_TYPE[kind] = status
    return status


def error_body(code: str, message: str, field: str | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "field": field}})


# The answers most refusals share (sold out, not open, ...), rendered once: those that
# carry their kind's own words. A message written for one request is rendered each time.
_RENDERED: dict[tuple[type[e.DomainError], str, str | None], tuple[int, bytes]] = {}
_RENDERED_MAX = 256


def domain_error_response(error: e.DomainError) -> tuple[int, bytes]:
    if error.message != error.default_message:
        return status_for(error), error_body(error.code, error.message, error.field)
    key = (type(error), error.code, error.field)
    answer = _RENDERED.get(key)
    if answer is None:
        answer = status_for(error), error_body(error.code, error.message, error.field)
        if len(_RENDERED) < _RENDERED_MAX:  # (a field named by a request could be new)
            _RENDERED[key] = answer
    return answer


def extra_headers(error: e.DomainError) -> dict[str, str] | None:
    """`Retry-After` on 429 (and any other header an error carries)."""
    if isinstance(error, e.RateLimited):
        return {"retry-after": str(error.retry_after)}
    return None


# The page for a path nothing answers carries what every page does (web.secure_page); it
# has no script, style or form of its own, so its policy allows none.
_PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def _page(status: int, detail: str) -> Response:
    words = "This page does not exist." if status == 404 else detail
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>soldout: {status}</title></head><body><main><h1>{html.escape(words)}</h1>"
        '<p><a href="/">Back to the launches</a></p></main></body></html>'
    )
    return Response(body, status_code=status, media_type="text/html", headers=_PAGE_HEADERS)


def _json(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    if not parts:
        return None
    name = parts[0]
    for p in parts[1:]:
        name += f"[{p}]" if p.isdigit() else f".{p}"
    return name


NotFoundPage = Callable[[Request], Awaitable[Response]]
"""The page a person in a browser gets for an address nothing answers (the shop's own,
in their language); without one, or if it fails, a plain English page."""


def install_handlers(app: FastAPI, not_found: NotFoundPage | None = None) -> None:
    @app.exception_handler(e.DomainError)
    async def on_domain_error(request: Request, exc: e.DomainError) -> Response:
        return _json(*domain_error_response(exc), headers=extra_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        missing_body = first.get("type") == "missing" and tuple(first.get("loc", ())) == ("body",)
        if first.get("type") == "json_invalid" or missing_body:
            return _json(*domain_error_response(e.MalformedBody()))
        if tuple(first.get("loc", ())) == ("body",) and not is_json(
            request.headers.get("content-type")
        ):
            # (curl -d sends application/x-www-form-urlencoded unless told otherwise)
            message = "send the body as JSON, with the header Content-Type: application/json"
            return _json(415, error_body("unsupported_media_type", message, None))
        field = _field_of(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid value"))
        return _json(422, error_body("invalid", message, field))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = "something went wrong on our side; the request may not have been carried out"
        return _json(500, error_body("internal_error", message, None))

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers) if exc.headers else None
        if "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(
            "/api/"
        ):
            if exc.status_code == 404 and not_found is not None:
                try:
                    return await not_found(request)
                except Exception:  # (the store unreadable, say): the plain page still answers
                    log.exception("the not-found page failed on %s", request.url.path)
            return _page(exc.status_code, str(exc.detail))  # a person in a browser
        return _json(exc.status_code, error_body(code, str(exc.detail), None), headers)
