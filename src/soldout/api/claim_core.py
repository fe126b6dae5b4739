"""The one claim path: whatever carried a claim (the hot path over RSGI or ASGI, or the
FastAPI route when the app runs without the hot path in front), `ClaimCore.answer` reads
who asks, limits their rate, reads the body, answers a refusal from memory (most of a
stampede: sold out, not open), and otherwise asks the engine to decide and write.

    core = ClaimCore(platform.engine, platform.tokens, platform.gate, meter)
    status, body, retry_after, fan_id = await core.answer(launch_id, headers, body, address)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from soldout.api.claim_request import (
    ClaimHeaders,
    bearer,
    cookie_value,
    idempotency_key,
    parse_claim,
    passage_of,
)
from soldout.api.errors import domain_error_response, error_body
from soldout.api.views import claim_view
from soldout.domain.errors import DomainError, RateLimited, Unauthorized
from soldout.engine.engine import ClaimOutcome
from soldout.metrics import ClaimMeter
from soldout.services.gate import Gate
from soldout.services.tokens import TokenSigner
from soldout.web import FAN_COOKIE

__all__ = ["INTERNAL_ERROR", "ClaimCore", "ClaimDesk", "DecidedElsewhere"]

INTERNAL_ERROR = error_body("internal_error", "something went wrong on our side; nothing was sold")
log = logging.getLogger(__name__)


class DecidedElsewhere(Exception):
    """Raised by a `ClaimDesk` that does not decide this claim here: the server carrying
    it hands the request on (a worker forwards it to the owner, `scaleout.worker`)."""


class ClaimDesk(Protocol):
    """Who decides a claim: the engine in one process, `scaleout.claims.ScaleOutClaims`
    with several workers."""

    def refusal(
        self, fan_id: str, launch_id: str, sku: str, idempotency_key: str, with_code: bool
    ) -> DomainError | None: ...

    async def claim(
        self,
        fan_id: str,
        launch_id: str,
        sku: str,
        quantity: int,
        idempotency_key: str,
        priority_code: str | None = None,
        admit: Callable[[Any], object] | None = None,
        address: str | None = None,
    ) -> ClaimOutcome:
        """`admit(what)` is the gate's check, given what this desk knows of the launch (its
        `LaunchBook` in one process; a worker's, the launch's terms): it raises if the
        claim may not pass, and returns the proof of work it spent, if any. `address`: the
        client's, when claims are limited per address (a desk that shares the count across
        processes counts it; in one process, the gate counted it already)."""
        ...


class ClaimCore:
    def __init__(
        self,
        engine: ClaimDesk,
        tokens: TokenSigner,
        gate: Gate,
        claims: ClaimMeter | None = None,
        *,
        fan_session: Callable[[str], str | None] = lambda session: None,
        find_session: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        """`fan_session` answers a storefront cookie from memory; where memory may not hold
        it (a worker's), `find_session` is asked next (it reads the record)."""
        self._engine = engine
        self._tokens = tokens
        self._gate = gate
        self._fan_session = fan_session  # a storefront cookie's session -> its fan
        self._find_session = find_session
        self._claims = claims or ClaimMeter()  # claims by answer, for /metrics
        self._counts = self._claims.codes

    @property
    def limits_addresses(self) -> bool:
        """Whether claims are rate-limited per client address (else it need not be read)."""
        return self._gate.limits_addresses

    async def answer(
        self, launch_id: str, headers: ClaimHeaders, body: bytes, address: str | None
    ) -> tuple[int, bytes, int, str | None]:
        """A claim's status, JSON body, Retry-After seconds (0: none) and fan (None before
        the token is checked: for the access log), whatever the server interface that
        carried it. Each answer is counted by its code, and a claim that reaches the
        engine's decision is timed (`ClaimMeter`)."""
        started = 0  # not timed: answered before the decision (from memory)
        fan_id: str | None = None
        try:
            auth = headers.get("authorization")
            if auth is None and headers.get("x-soldout-web") == "1":
                # the storefront: the fan's session cookie (a dictionary lookup)
                session = cookie_value(headers.get("cookie") or "", FAN_COOKIE)
                fan_id = self._fan_session(session)
                if fan_id is None and session and self._find_session is not None:
                    fan_id = await self._find_session(session)
                if fan_id is None:
                    raise Unauthorized()
            else:
                token = bearer(auth)
                fan_id = self._tokens.fan_of(token)
                if fan_id is None:
                    raise self._tokens.refusal(token)
            self._gate.limit(fan_id, address)
            request = parse_claim(body)
            key = idempotency_key(headers.get("idempotency-key"))
            with_code = request.priority_code is not None
            refused = self._engine.refusal(fan_id, launch_id, request.sku, key, with_code)
            if refused is not None:
                # (most of a stampede's answers: counted inline, a call costs as much)
                counts, code = self._counts, refused.code
                counts[code] = counts.get(code, 0) + 1
                return (*domain_error_response(refused), 0, fan_id)
            started = time.perf_counter_ns()
            outcome = await self._engine.claim(
                fan_id,
                launch_id,
                request.sku,
                request.quantity,
                key,
                request.priority_code,
                # (the gate's own headers are read only when the launch gets that far)
                lambda launch: self._gate.check(
                    launch,
                    fan_id,
                    passage_of(
                        headers.get("admission-token"), headers.get("proof-of-work"), with_code
                    ),
                ),
                address,
            )
        except RateLimited as error:
            self._claims.seen(error.code, started)
            return (*domain_error_response(error), error.retry_after, fan_id)
        except DomainError as error:
            self._claims.seen(error.code, started)
            return (*domain_error_response(error), 0, fan_id)
        except DecidedElsewhere:
            raise
        except Exception:
            log.exception("claim failed")
            self._claims.seen("internal_error", started)
            return 500, INTERNAL_ERROR, 0, fan_id
        self._claims.seen("replayed" if outcome.replayed else "created", started)
        status = 200 if outcome.replayed else 201
        return status, orjson.dumps(claim_view(outcome.claim)), 0, fan_id
