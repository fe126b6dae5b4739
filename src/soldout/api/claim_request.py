"""What a claim request says, read without the framework: the launch in its path, the
body (`{"sku", "quantity"?, "priority_code"?}`, each key once), the bearer token or the
storefront's cookie, the `Idempotency-Key`, and the gate's headers. The hot path
(`hotpath.Front`) and the FastAPI claim route read a claim with the same functions."""

from __future__ import annotations

from typing import Protocol

import orjson

from soldout.api.json_body import check_unique_keys
from soldout.domain.errors import InvalidInput, MalformedBody, Unauthorized
from soldout.engine.draws import RESERVED_KEY_PREFIX
from soldout.services.gate import Passage

__all__ = [
    "CLAIM_HEADERS",
    "MAX_CLAIM_BODY",
    "MAX_KEY_LENGTH",
    "ClaimHeaders",
    "ClaimRequest",
    "bearer",
    "claim_launch",
    "cookie_value",
    "idempotency_key",
    "parse_claim",
    "passage_of",
]

CLAIM_PREFIX = "/api/v1/launches/"
CLAIM_SUFFIX = "/claims"
MAX_CLAIM_BODY = 4096
MAX_KEY_LENGTH = 200
_FIELDS = frozenset({"sku", "quantity", "priority_code"})
_NOTHING, _WITH_CODE_ONLY = Passage(), Passage(with_code=True)


class ClaimRequest:
    __slots__ = ("priority_code", "quantity", "sku")

    def __init__(self, sku: str, quantity: int, priority_code: str | None) -> None:
        self.sku, self.quantity, self.priority_code = sku, quantity, priority_code


def parse_claim(body: bytes) -> ClaimRequest:
    """`{"sku": str, "quantity"?: int >= 1, "priority_code"?: str}`, nothing else, and
    each key once (`json_body`)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedBody() from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field=None)
    if body.count(b":") > len(data):
        # A key given twice (orjson keeps the last) or a ':' in a string: look closer. A
        # body of distinct keys and plain values has one ':' per key, and costs nothing.
        check_unique_keys(body)
    if not data.keys() <= _FIELDS:
        raise InvalidInput("unknown field", field=sorted(data.keys() - _FIELDS)[0])
    sku = data.get("sku")
    if not isinstance(sku, str) or not sku:
        raise InvalidInput("sku is required: the code of the SKU to buy", field="sku")
    quantity = data.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InvalidInput("quantity must be a whole number of at least 1", field="quantity")
    code = data.get("priority_code")
    if code is not None and (not isinstance(code, str) or not 0 < len(code) <= 64):
        raise InvalidInput("priority_code must be a code string", field="priority_code")
    return ClaimRequest(sku, quantity, code)


def passage_of(
    admission: bytes | str | None, proof: bytes | str | None, with_code: bool
) -> Passage:
    """The `Admission-Token` and `Proof-Of-Work: TOKEN:NONCE` headers of a claim."""
    if admission is None and proof is None:
        return _WITH_CODE_ONLY if with_code else _NOTHING
    if isinstance(admission, bytes):
        admission = admission.decode("latin-1")
    if isinstance(proof, bytes):
        proof = proof.decode("latin-1")
    token, _, nonce = (proof or "").strip().rpartition(":")
    return Passage(
        admission=(admission or "").strip() or None,
        pow_token=token or None,
        pow_nonce=nonce or None,
        with_code=with_code,
    )


def cookie_value(header: str, name: str) -> str:
    """One cookie's value from a raw `Cookie` header (empty if absent)."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip().strip('"')
    return ""


def bearer(value: str | None) -> str:
    if value is None or not value[:7].lower() == "bearer ":
        raise Unauthorized()
    return value[7:].strip()


def idempotency_key(value: bytes | str | None) -> str:
    """The `Idempotency-Key` header, required on every call that buys or pays."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    key = (value or "").strip()
    if key.startswith(RESERVED_KEY_PREFIX):
        raise InvalidInput(
            f"Idempotency-Keys starting with {RESERVED_KEY_PREFIX!r} are reserved",
            field="Idempotency-Key",
        )
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(
            f"an Idempotency-Key header of 1 to {MAX_KEY_LENGTH} characters is required,"
            " so that a retry never buys twice",
            field="Idempotency-Key",
            code="idempotency_key_too_long" if key else "missing_idempotency_key",
        )
    return key


class ClaimHeaders(Protocol):
    """The request headers, by lower-case name, as text (None when absent). Granian's RSGI
    headers are one; for ASGI, a dict of the headers a claim reads (`CLAIM_HEADERS`).
    A claim reads only what it needs: the cookie only without a token, the gate's
    headers only once it reaches the gate (a sold-out answer never reads them)."""

    def get(self, name: str, /) -> str | None: ...


CLAIM_HEADERS = frozenset(
    {
        b"authorization",
        b"x-soldout-web",
        b"cookie",
        b"idempotency-key",
        b"admission-token",
        b"proof-of-work",
    }
)


def claim_launch(method: str, path: str) -> str | None:
    """The launch id of `POST /api/v1/launches/{id}/claims`, else None."""
    if method == "POST" and path.endswith(CLAIM_SUFFIX) and path.startswith(CLAIM_PREFIX):
        launch_id = path[len(CLAIM_PREFIX) : -len(CLAIM_SUFFIX)]
        if launch_id and "/" not in launch_id:
            return launch_id
    return None
