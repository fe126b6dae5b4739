"""Requests as a simulated client makes them: logged, capped, retried after a failure.

    api = Api(transport, log, Budget(10_000, deadline), timeout=10, retries=3)
    answer = await api.call("claim", "POST", path, actor="fan", fan=fan_id, token=token,
                            json={"sku": "A"}, headers={"Idempotency-Key": key})

A timeout, a lost connection or a 5xx is sent again unchanged (so with the same
Idempotency-Key) up to `retries` times; every attempt is a line of the request log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from soldout.rehearsal.log import Actor, Record, RequestLog
from soldout.rehearsal.transport import RequestTimeout, Transport, TransportError

__all__ = ["Answer", "Api", "Budget", "Exhausted"]


class Exhausted(Exception):
    """The run's caps are reached: no more requests."""


class Budget:
    """The mandatory caps: at most `max_requests` requests, none after `deadline`
    (a `time.monotonic()` value)."""

    def __init__(self, max_requests: int | None, deadline: float | None) -> None:
        self.max_requests = max_requests
        self.deadline = deadline
        self.used = 0
        self.stopped_by: str | None = None

    def take(self) -> None:
        if self.stopped_by is not None:
            raise Exhausted(self.stopped_by)
        if self.max_requests is not None and self.used >= self.max_requests:
            self.stopped_by = "max_requests"
            raise Exhausted(self.stopped_by)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped_by = "max_seconds"
            raise Exhausted(self.stopped_by)
        self.used += 1


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 0: no answer
    code: str | None  # the error code; "timeout" or "connection_error" without an answer
    data: Any
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def failed(self) -> bool:
        """Worth sending again unchanged: no answer, or a server error."""
        return self.status == 0 or self.status >= 500


class Api:
    def __init__(
        self,
        transport: Transport,
        log: RequestLog | None,
        budget: Budget,
        *,
        timeout: float,
        retries: int,
        backoff: float = 0.2,
    ) -> None:
        self._transport = transport
        self._log = log
        self.budget = budget
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        actor: Actor,
        fan: str | None = None,
        token: str | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        sku: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - passed on to the transport
    ) -> Answer:
        """Send, and send again after a failure; raises `Exhausted` once the caps are hit."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        body = None
        if json is not None:
            body = orjson.dumps(json)
            sent["Content-Type"] = "application/json"
        attempt = 0
        while True:
            attempt += 1
            self.budget.take()
            answer = await self._once(
                kind, method, path, sent, body, actor, fan, sku, attempt, timeout
            )
            if not answer.failed or attempt > self._retries:
                return answer
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))

    async def _once(
        self,
        kind: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
        actor: Actor,
        fan: str | None,
        sku: str | None,
        attempt: int,
        timeout: float | None,  # noqa: ASYNC109 - passed on to the transport
    ) -> Answer:
        started = time.monotonic()
        try:
            reply = await self._transport.request(
                method, path, headers, body, timeout or self._timeout
            )
        except RequestTimeout:
            answer = Answer(0, "timeout", None)
        except TransportError:
            answer = Answer(0, "connection_error", None)
        else:
            answer = _answer(reply.status, reply.body, reply.retry_after)
        if self._log is not None:
            self._log.add(
                Record(
                    started,
                    time.monotonic(),
                    kind,
                    answer.status,
                    answer.code,
                    actor,
                    fan,
                    sku,
                    attempt,
                )
            )
        return answer


def _answer(status: int, body: bytes, retry_after: float | None) -> Answer:
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    code = None
    if status >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        code = str(error.get("code")) if isinstance(error, dict) else f"http_{status}"
    return Answer(status, code, data, retry_after)
