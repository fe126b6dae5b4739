"""The access log: one INFO line per HTTP request on the `soldout.access` logger.

Each line has the request id (the client's `X-Request-Id` when it is a short plain
token, else a new one; sent back in the response's `X-Request-Id`), the method, the
route's template (never the path itself: `/signin/{token}` carries a secret), the
status, the latency in ms and the fan where known. Never a header's value, a cookie, a
token or a payment's details. Off unless the level is `info` or lower: the servers ask
`enabled()` once per request and build nothing otherwise (the claim hot path included).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from soldout.metrics import route_template

__all__ = [
    "CLAIM_ROUTE",
    "FORWARDED_ROUTE",
    "AccessLine",
    "WatchedProtocol",
    "enabled",
    "fan_seen",
    "request_id",
    "route_named",
]

log = logging.getLogger("soldout.access")
CLAIM_ROUTE = "/api/v1/launches/{launch_id}/claims"
FORWARDED_ROUTE = "(forwarded to the owner)"  # a scale-out worker's, routed by the owner
_NAMED = "soldout.route"  # the scope's key for a route named without a router
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def enabled() -> bool:
    return log.isEnabledFor(logging.INFO)


def request_id(given: str | None) -> str:
    """The client's id if it is 1 to 64 letters, digits or `._:-`, else a new one."""
    if given is not None and _SANE.fullmatch(given):
        return given
    return secrets.token_hex(8)


def route_named(scope: Scope, route: str) -> None:
    """Tell the access log the route of a request answered without a router (a scale-out
    worker's health, or `FORWARDED_ROUTE`)."""
    scope[_NAMED] = route


def fan_seen(state: MutableMapping[str, Any], fan_id: str) -> None:
    """Tell the access log which fan a request was made by (the auth dependencies do)."""
    state["fan_id"] = fan_id


class AccessLine:
    """One request's line, filled in while it is answered and written at its end."""

    __slots__ = ("_started", "fan_id", "method", "request_id", "route", "status")

    def __init__(self, method: str, given_id: str | None) -> None:
        self._started = time.perf_counter()
        self.method = method
        self.request_id = request_id(given_id)
        self.route: str | None = None
        self.status = 500  # until an answer starts: the request failed
        self.fan_id: str | None = None

    def watch(self, send: Send) -> Send:
        """ASGI `send` that notes the status and adds `X-Request-Id`."""
        header = (b"x-request-id", self.request_id.encode())

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        return watched

    def seen_in(self, scope: Scope) -> None:
        """The route and the fan the ASGI app found."""
        self.route = scope.get(_NAMED) or route_template(scope)
        state = scope.get("state")
        if state and self.fan_id is None:
            self.fan_id = state.get("fan_id")

    def write(self) -> None:
        ms = round((time.perf_counter() - self._started) * 1000, 3)
        route = self.route or "-"
        log.info(
            "%s %s %s %.3f ms fan=%s id=%s",
            self.method,
            route,
            self.status,
            ms,
            self.fan_id or "-",
            self.request_id,
            extra={
                "request_id": self.request_id,
                "method": self.method,
                "route": self.route,
                "status": self.status,
                "latency_ms": ms,
                "fan_id": self.fan_id,
            },
        )


class WatchedProtocol:
    """An RSGI protocol (Granian's) that notes the answer's status for the line and adds
    `X-Request-Id` to it; the rest is the protocol's own."""

    def __init__(self, protocol: Any, line: AccessLine) -> None:
        self._protocol = protocol
        self._line = line

    def _headers(self, status: int, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        self._line.status = status
        return [*headers, ("x-request-id", self._line.request_id)]

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self._protocol.response_bytes(status, self._headers(status, headers), body)

    def response_file(self, status: int, headers: list[tuple[str, str]], path: str) -> None:
        self._protocol.response_file(status, self._headers(status, headers), path)

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Any:
        return self._protocol.response_stream(status, self._headers(status, headers))

    def __call__(self) -> Any:
        return self._protocol()

    def __aiter__(self) -> Any:
        return self._protocol.__aiter__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._protocol, name)
