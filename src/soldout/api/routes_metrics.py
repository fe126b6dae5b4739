"""`GET /metrics`: the platform's metrics in Prometheus's text format (`soldout.metrics`).

It tells how the sale goes (units by state, claims by answer), so it is not public: the
scraper sends `Authorization: Bearer` with SOLDOUT_METRICS_TOKEN (a token that opens
nothing else, for Prometheus's configuration) or the admin token.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response

from soldout.api.deps import Credentials, platform_of
from soldout.api.openapi import DocumentedRoute
from soldout.domain.errors import Unauthorized
from soldout.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["operations"], route_class=DocumentedRoute)

_SCRAPE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text format (docs/operations.md, Metrics)",
        "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
    },
    401: {"description": "no token, or one that is neither the metrics nor the admin token"},
}


@router.get("/metrics", response_class=Response, responses=_SCRAPE)
async def metrics(request: Request, credentials: Credentials) -> Response:
    """Requests, claims by answer, group commits, waiting rooms, payments, the e-mail
    outbox, the sweeper and the live launches' units (docs/operations.md, Metrics)."""
    if credentials is None:
        raise Unauthorized("send the metrics token (or the admin token) as a bearer token")
    platform = platform_of(request)
    token = credentials.credentials
    allowed: str | None = request.app.state.metrics_token
    scraper = allowed is not None and hmac.compare_digest(token.encode(), allowed.encode())
    if not scraper and not platform.tokens.is_admin(token):
        raise Unauthorized("the token is neither the metrics token nor the admin token")
    return Response(await platform.metrics.render(), media_type=CONTENT_TYPE)
