"""What the OpenAPI schema says each operation answers, kept true to what it does.

Every error answer has one shape, `Error` (written by `soldout.api.errors`). Most of the
error statuses a route can answer follow from what the route itself declares, so
`DocumentedRoute` derives them instead of each route listing them again:

| the route declares | it can answer |
| --- | --- |
| anything | 400 `bad_header`: a header that is not ASCII (under Granian, the default) |
| the admin token (`AdminAuth`) | 401, 403 (a fan's token) |
| a fan's token (`FanAuth`) | 401, 403 (the admin's token) |
| names the admin (`Actor`) | 401 |
| a path parameter | 404: what it names does not exist, or is not this fan's |
| a body | 400 (not JSON), 413 (over the size limit), 415 (JSON sent as another type) |
| any parameter, or a body | 422: a value is not valid; `field` names it |
| POST, PUT, PATCH or DELETE | 503 (the store has stopped taking writes) |

What only a route knows (409 `sold_out`, a 429 with `Retry-After`, a 202) it declares in
its own `responses`; an error status declared there without a schema gets `Error`. A 500 is
never documented: it is a bug, and the schemathesis run in the suite fails on it.

    router = APIRouter(prefix="/api/v1", route_class=DocumentedRoute)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import params
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from soldout.api.claim_request import MAX_CLAIM_BODY, MAX_KEY_LENGTH
from soldout.api.deps import admin_actor, require_admin, require_fan
from soldout.api.schemas import ClaimIn
from soldout.engine.draws import RESERVED_KEY_PREFIX

__all__ = [
    "CLAIM_ANSWERS",
    "CLAIM_REQUEST",
    "CSV",
    "IDEMPOTENCY_KEY",
    "NO_SUCH_PRODUCT",
    "RATE_LIMITED",
    "ClaimAnswer",
    "DocumentedRoute",
    "Error",
    "ErrorDetail",
    "error_statuses",
]


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. `sold_out`", examples=["sold_out"])
    message: str = Field(description="for a person, in English", examples=["sold out"])
    field: str | None = Field(
        description="the parameter, header or body field at fault, if one is", examples=["sku"]
    )


class Error(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    error: ErrorDetail


class ClaimAnswer(BaseModel):
    """A claim as first answered (201) and as every replay of it answers (200): only
    fields that never change (`soldout.api.views.claim_view`)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    launch_id: str
    sku: str = Field(description="the SKU's code")
    quantity: int = Field(ge=1)
    unit_price: int = Field(description="minor units, fixed at claim time")
    total: int = Field(description="minor units: unit_price times quantity")
    currency: str = Field(examples=["EUR"])
    priority_code: str | None
    created_at: str = Field(description="ISO 8601 with a zone")
    expires_at: str = Field(description="ISO 8601 with a zone: pay before it")


IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "one key per intended purchase or payment: a retry with it never buys"
    " or pays twice (a claim's key counts on its launch: on another launch it is another"
    " claim). Without one: 422 `missing_idempotency_key`; over"
    f" {MAX_KEY_LENGTH} characters: 422 `idempotency_key_too_long`.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": r"\S",  # (a key of spaces only is no key: they are trimmed)
        "not": {"pattern": "^" + re.escape(RESERVED_KEY_PREFIX)},  # soldout's own keys
    },
}

RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "`rate_limited`: too many requests from this fan; retry after"
        " `Retry-After` seconds",
        "headers": {
            "Retry-After": {
                "description": "whole seconds to wait",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    }
}

# The claim, as the hot path reads it (`soldout.api.hotpath`: the body is JSON whatever
# its Content-Type, so never a 415) and answers it.
CLAIM_REQUEST: dict[str, Any] = {
    "parameters": [
        IDEMPOTENCY_KEY,
        {
            "name": "Admission-Token",
            "in": "header",
            "description": "the waiting room's `admission_token`, once admitted (a launch"
            " with a waiting room)",
            "schema": {"type": "string"},
        },
        {
            "name": "Proof-Of-Work",
            "in": "header",
            "description": "`TOKEN:NONCE`, a solved challenge (a launch with proof of work)",
            "schema": {"type": "string"},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ClaimIn.model_json_schema()}},
    },
}
CLAIM_ANSWERS: dict[int | str, dict[str, Any]] = {
    201: {"model": ClaimAnswer, "description": "held for the fan until `expires_at`"},
    200: {
        "model": ClaimAnswer,
        "description": "a replay of an earlier request with the same Idempotency-Key",
    },
    401: {"description": "no token (or storefront session), or one expired or signed out"},
    403: {
        "description": "`forbidden` (the admin's token: a claim is a fan's),"
        " `reservation_required`, `duplicate_buyer`, `admission_required` (or"
        " `_expired`, `_invalid`), `pow_required` (or `_invalid`, `_expired`, `_reused`)"
    },
    409: {
        "description": "`sold_out`, `not_open`, `closed`, `limit_reached`,"
        " `insufficient_stock`, `idempotency_key_reused`, `code_spent`, ..."
    },
    422: {
        "description": "`invalid` (a field named), `code_for_other_sku` (the priority code"
        " is for another SKU, named in the message), `missing_idempotency_key`,"
        " `idempotency_key_too_long`"
    },
    **RATE_LIMITED,
}

NO_SUCH_PRODUCT: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: the body's `product_id` names no product"}
}

CSV: dict[int | str, dict[str, Any]] = {
    200: {"description": "CSV, UTF-8", "content": {"text/csv": {"schema": {"type": "string"}}}}
}

_BAD_HEADER = (
    "`bad_header`: a header's value is not ASCII (Granian, the default server, cannot read it)"
)
_NOT_JSON = "`malformed_json`: the body is not valid JSON (or not what the route reads); or "
_WHY: dict[int, str] = {
    400: _BAD_HEADER,
    401: "`unauthorized`: no valid bearer token",
    403: "`forbidden`: this token may not do that (a fan's token where the admin's is needed,"
    " the admin's where a fan's is)",
    404: "`not_found`: what the path names does not exist, or is not this fan's",
    413: "`payload_too_large`: the body is over the limit (SOLDOUT_MAX_BODY_BYTES, 64 KiB"
    f" by default; a claim's {MAX_CLAIM_BODY} bytes); the connection is closed",
    415: "`unsupported_media_type`: send the body as JSON (Content-Type: application/json)",
    422: "`invalid` (or a narrower code): a value is not valid; `field` names it",
    503: "`storage_unavailable`: the store has stopped taking writes; nothing was done",
}

# What each authentication dependency refuses with.
_REFUSALS: dict[Callable[..., Any], tuple[int, ...]] = {
    require_admin: (401, 403),
    require_fan: (401, 403),
    admin_actor: (401,),
}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ERROR_REF = "#/components/schemas/Error"  # (made by the routes that answer JSON)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _takes_body(route: APIRoute) -> bool:
    return route.body_field is not None or "requestBody" in (route.openapi_extra or {})


def error_statuses(route: APIRoute) -> set[int]:
    """The error statuses `route` can answer because of what it declares (the table in
    this module's docstring)."""
    statuses = {400}
    has_params = False
    for dependant in _dependants(route.dependant):
        if dependant.call is not None:
            statuses.update(_REFUSALS.get(dependant.call, ()))
        if dependant.path_params:
            statuses.add(404)
        has_params = has_params or bool(
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
        )
    body = route.body_field
    if _takes_body(route):
        statuses.update((413, 422))
    if body is not None and not isinstance(body.field_info, params.Form):
        statuses.add(415)  # (a form's fields are read whatever the type: 422 if missing)
    if has_params:
        statuses.add(422)
    if (route.methods or set()) & _WRITES:
        statuses.add(503)
    return statuses


def _error_schema(route: APIRoute) -> dict[str, Any]:
    """`Error` as JSON. FastAPI gives a response's model the media type of the route's own
    answers; a route that answers CSV still answers its errors in JSON."""
    answers = route.response_class
    if isinstance(answers, DefaultPlaceholder):
        answers = answers.value
    if answers.media_type in (None, "application/json"):
        return {"model": Error}
    return {"content": {"application/json": {"schema": {"$ref": _ERROR_REF}}}}


def _answers(route: APIRoute) -> dict[int | str, dict[str, Any]]:
    """The route's declared responses, each error given the `Error` schema if it has none,
    and every derived error status it did not declare."""
    error = _error_schema(route)
    answers: dict[int | str, dict[str, Any]] = {}
    for status, response in route.responses.items():
        is_error = str(status).isdigit() and int(status) >= 400
        if is_error and "model" not in response and "content" not in response:
            response = {**response, **error}
        answers[status] = response
    declared = {int(s) for s in answers if str(s).isdigit()}
    for status in sorted(error_statuses(route) - declared):
        why = _WHY[status]
        if status == 400 and _takes_body(route):
            why = _NOT_JSON + why
        answers[status] = {**error, "description": why}
    return answers


class DocumentedRoute(APIRoute):
    """An API route whose OpenAPI entry lists every error status it can answer, each with
    the `Error` schema (see the module's docstring for which, and why)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        answers = _answers(self)
        if answers != self.responses:
            # FastAPI makes a response's schema from its model as the route is built, and
            # what the route can answer is known only once it is: build it again with them.
            super().__init__(path, endpoint, **{**kwargs, "responses": answers})
