"""Proof-of-work challenges (hashcash style): make each claim cost a script some CPU.

    pow = ProofOfWork(secret, difficulty_bits=18, ttl_seconds=120)
    challenge = pow.issue("fan_1", "launch_1", now)          # sent to the browser
    nonce = solve(challenge.token, challenge.difficulty)      # done by the browser
    pow.check(challenge.token, nonce, "fan_1", "launch_1", now)  # raises PowRejected

A token is self-contained and signed, so issuing one stores nothing: it carries the fan,
the launch, the expiry, the difficulty and 16 random bytes, with an HMAC-SHA256 over them.
A nonce is a decimal string such that sha256(token + ":" + nonce) starts with at least
`difficulty` zero bits. Each token is accepted once; spent tokens are remembered until
they expire, so that memory is bounded by the rate of solved challenges times the TTL.
The memory is per process: several workers each accept a token once.

Expiry is wall-clock time (an aware datetime) because a token outlives the process
that signed it and may be checked by another worker.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import os
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from soldout.domain.errors import Forbidden

__all__ = ["Challenge", "PowRejected", "ProofOfWork", "Spent", "leading_zero_bits", "solve"]

MAX_DIFFICULTY = 64
MAX_TOKEN_LENGTH = 1024
_VERSION = 1
_HEADER = struct.Struct(">BBQ16sB")  # version, difficulty, expiry (ms), salt, len(fan_id)
_MAC_CONTEXT = b"soldout-pow-v1:"
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_NONCE = re.compile(r"[0-9]{1,20}")


class PowRejected(Forbidden):
    """The proof of work is missing, forged, for someone else, expired, spent or unsolved.

    `code` is one of `pow_required`, `pow_invalid`, `pow_expired`, `pow_reused`.
    A `Forbidden`, so the API answers 403.
    """

    code = "pow_invalid"
    default_message = "a solved proof-of-work challenge is required"

    def __init__(self, code: str, message: str, *, field: str = "pow_token") -> None:
        super().__init__(message, field=field)
        self.code = code


@dataclass(frozen=True, slots=True)
class Spent:
    """A challenge just accepted: its id and when it expires. Several processes that
    accept challenges share a record of the spent ones by these (`scaleout.claims`)."""

    salt: str  # hex
    expires_ms: int  # unix milliseconds


@dataclass(frozen=True, slots=True)
class Challenge:
    token: str
    difficulty: int
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("datetime must carry a time zone")
    return int(moment.timestamp() * 1000)


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solve(token: str, difficulty: int) -> str:
    """The smallest nonce solving `token` at `difficulty` bits (about 2**difficulty tries)."""
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(f"difficulty must be between 0 and {MAX_DIFFICULTY}")
    prefix = hashlib.sha256((token + ":").encode())
    bound = 1 << (64 - difficulty)
    from_bytes = int.from_bytes
    nonce = 0
    while True:
        attempt = prefix.copy()
        attempt.update(str(nonce).encode())
        if from_bytes(attempt.digest()[:8], "big") < bound:
            return str(nonce)
        nonce += 1


class ProofOfWork:
    def __init__(self, secret: bytes, difficulty_bits: int, ttl_seconds: float) -> None:
        if len(secret) < 32:
            raise ValueError("the signing secret must be at least 32 bytes")
        if not 0 <= difficulty_bits <= MAX_DIFFICULTY:
            raise ValueError(f"difficulty_bits must be between 0 and {MAX_DIFFICULTY}")
        if not ttl_seconds > 0:
            raise ValueError("ttl_seconds must be positive")
        self._secret = secret
        self.difficulty_bits = difficulty_bits
        self._ttl_ms = int(ttl_seconds * 1000)
        self._spent: set[bytes] = set()
        self._expiries: list[tuple[int, bytes]] = []  # a heap of (expiry ms, salt)

    @property
    def spent_count(self) -> int:
        """How many spent, unexpired tokens are remembered (the memory this costs)."""
        return len(self._spent)

    def issue(self, fan_id: str, launch_id: str, now: datetime) -> Challenge:
        fan = _utf8(fan_id)
        if len(fan) > 255:
            raise ValueError("fan_id is too long")
        expires_ms = _ms(now) + self._ttl_ms
        header = _HEADER.pack(_VERSION, self.difficulty_bits, expires_ms, os.urandom(16), len(fan))
        payload = header + fan + _utf8(launch_id)
        token = f"{_b64(payload)}.{_b64(self._mac(payload))}"
        expires_at = datetime.fromtimestamp(expires_ms / 1000, UTC)
        return Challenge(token, self.difficulty_bits, expires_at)

    def check(
        self,
        token: str | None,
        nonce: str | None,
        fan_id: str,
        launch_id: str,
        now: datetime,
        *,
        remember: bool = True,
    ) -> Spent:
        """Accept a solved challenge once (in this process), or raise `PowRejected`.
        `remember=False`: checked, not recorded here (the caller keeps spent challenges
        where several processes see them)."""
        if not token:
            raise PowRejected("pow_required", "a proof-of-work challenge is required")
        if not nonce:
            raise PowRejected("pow_required", "the challenge must be solved", field="pow_nonce")
        if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
            raise PowRejected("pow_invalid", "the nonce must be decimal digits", field="pow_nonce")
        payload = self._verified_payload(token)
        version, difficulty, expires_ms, salt, fan_length = _HEADER.unpack_from(payload)
        body = payload[_HEADER.size :]
        if version != _VERSION or body[:fan_length] != _utf8(fan_id):
            raise PowRejected("pow_invalid", "this challenge was issued to another fan")
        if body[fan_length:] != _utf8(launch_id):
            raise PowRejected("pow_invalid", "this challenge was issued for another sale")
        now_ms = _ms(now)
        if now_ms >= expires_ms:
            raise PowRejected("pow_expired", "the challenge has expired; ask for a new one")
        digest = hashlib.sha256(f"{token}:{nonce}".encode()).digest()
        if leading_zero_bits(digest) < difficulty:
            raise PowRejected(
                "pow_invalid", "the nonce does not solve the challenge", field="pow_nonce"
            )
        if not remember:
            return Spent(salt.hex(), expires_ms)
        self._forget_expired(now_ms)
        if salt in self._spent:
            raise PowRejected("pow_reused", "this challenge was already used; ask for a new one")
        self._spent.add(salt)
        heapq.heappush(self._expiries, (expires_ms, salt))
        return Spent(salt.hex(), expires_ms)

    def give_back(self, spent: Spent) -> None:
        """A proof accepted here whose claim was then refused may be used again."""
        self._spent.discard(bytes.fromhex(spent.salt))

    def _verified_payload(self, token: str) -> bytes:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise PowRejected("pow_invalid", "the challenge token is malformed")
        if not _TOKEN.fullmatch(token):
            raise PowRejected("pow_invalid", "the challenge token is malformed")
        encoded_payload, _, encoded_mac = token.partition(".")
        try:
            payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        except (binascii.Error, ValueError):
            raise PowRejected("pow_invalid", "the challenge token is malformed") from None
        if _b64(payload) != encoded_payload or _b64(mac) != encoded_mac:
            raise PowRejected("pow_invalid", "the challenge token is malformed")  # not canonical
        if not hmac.compare_digest(mac, self._mac(payload)) or len(payload) < _HEADER.size:
            raise PowRejected("pow_invalid", "the challenge token is not ours")
        return payload

    def _mac(self, payload: bytes) -> bytes:
        return hmac.digest(self._secret, _MAC_CONTEXT + payload, "sha256")

    def _forget_expired(self, now_ms: int) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now_ms:
            self._spent.discard(heapq.heappop(expiries)[1])
