"""Signed bearer tokens: a fan's token proves its fan id without a store read.

A fan's token is `fan_id.generation.expires.signature` (HMAC-SHA256 with a key kept in
the store): it works until `expires` (unix seconds, `FAN_TOKEN_LIFETIME` after it was
made) and while the fan's token generation is still `generation` ("sign out everywhere"
moves it on: `services.sessions`). Checking one is an HMAC the first time, a dictionary
lookup after, plus two comparisons: no store read on the claim hot path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime

from soldout.clock import Clock, SystemClock
from soldout.domain.errors import DomainError, Forbidden, Unauthorized
from soldout.domain.sessions import FAN_TOKEN_LIFETIME

__all__ = ["TokenSigner", "admin_fingerprint", "is_admin_fingerprint"]

CACHE_SIZE = 200_000


def admin_fingerprint(token: str) -> str:
    """Who the audit log names for the admin: the token's fingerprint, never the token.

    `admin_fingerprint("secret")` -> "admin:2bb80d537b1d"
    """
    return f"admin:{hashlib.sha256(token.encode()).hexdigest()[:12]}"


_FINGERPRINT = re.compile(r"admin:[0-9a-f]{12}")


def is_admin_fingerprint(actor: str) -> bool:
    """`actor` names the bootstrap admin token (no person): `admin_fingerprint`'s form."""
    return _FINGERPRINT.fullmatch(actor) is not None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenSigner:
    """`signer.fan_token(fan_id)` -> "fan_ab12.0.1900000000.<signature>";
    `signer.fan_of(token)` -> the fan id, or None once expired or revoked."""

    def __init__(self, secret: bytes | None, admin_token: str, clock: Clock | None = None) -> None:
        self._secret = b""
        if secret is not None:
            self.use_secret(secret)
        self._admin = admin_token.encode()
        self.admin_actor = admin_fingerprint(admin_token)
        self._clock: Clock = clock or SystemClock()
        # token -> (fan id, generation, expires): verified once, then looked up
        self._verified: dict[str, tuple[str, int, int]] = {}
        self._revoked: set[str] = set()
        self._generations: dict[str, int] = {}  # only fans who signed out everywhere

    @property
    def has_secret(self) -> bool:
        return bool(self._secret)

    def use_secret(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the signing secret must be at least 32 bytes")
        self._secret = secret
        self._verified = {}

    def use_clock(self, clock: Clock) -> None:
        """The platform's clock decides when a token has expired (tests move it)."""
        self._clock = clock

    def fan_token(self, fan_id: str) -> str:
        return self.fan_token_until(fan_id)[0]

    def fan_token_until(self, fan_id: str) -> tuple[str, datetime]:
        """A new token for the fan, and when it expires."""
        expires = int((self._clock.now() + FAN_TOKEN_LIFETIME).timestamp())
        payload = f"{fan_id}.{self._generations.get(fan_id, 0)}.{expires}"
        return f"{payload}.{self._sign(payload)}", datetime.fromtimestamp(expires, UTC)

    def fan_of(self, token: str) -> str | None:
        """The fan a token was signed for, or None. Valid tokens are remembered (up to
        `CACHE_SIZE`), so a fan pressing "buy" repeatedly costs one HMAC, not one each."""
        known = self._verified.get(token)
        if known is None:
            known = self._verify(token)
            if known is None:
                return None
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = known
        fan_id, generation, expires = known
        if expires <= self._clock.now().timestamp():
            return None
        if generation != self._generations.get(fan_id, 0) or fan_id in self._revoked:
            return None
        return fan_id

    def refusal(self, token: str) -> DomainError:
        """Why a bearer token that names no fan (`fan_of` gave None) is refused: the admin's
        is valid but not a fan's (403); any other is not valid (401)."""
        if self.is_admin(token):
            return Forbidden(
                "this is the shop's admin token: this call is a fan's, with a fan's token"
            )
        return Unauthorized("the token is not valid (expired, or signed out everywhere)")

    def expires_at(self, token: str) -> datetime | None:
        """When a genuine token stops working (None: not one of ours)."""
        verified = self._verify(token)
        return datetime.fromtimestamp(verified[2], UTC) if verified else None

    def _verify(self, token: str) -> tuple[str, int, int] | None:
        payload, dot, signature = token.rpartition(".")
        parts = payload.split(".")
        if not dot or len(parts) != 3 or not parts[0].startswith("fan_"):
            return None
        if not (parts[1].isdigit() and parts[2].isdigit()):
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        return parts[0], int(parts[1]), int(parts[2])

    def revoke(self, fan_id: str) -> None:
        """Every token of this fan stops working for good (an erased account)."""
        self._revoked.add(fan_id)

    def revoked(self, fan_id: str) -> bool:
        return fan_id in self._revoked

    def generation(self, fan_id: str) -> int:
        return self._generations.get(fan_id, 0)

    def set_generation(self, fan_id: str, generation: int) -> None:
        """Tokens of an older generation stop working (as recorded: `Sessions`)."""
        self._generations[fan_id] = generation

    def is_admin(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._admin)

    def seal(self, text: str) -> str:
        """A short MAC of `text` under the signing key: a link soldout made carries it, so
        one made up elsewhere (to act on a fan's behalf) is told apart (`sealed`)."""
        if not self._secret:
            raise RuntimeError("no signing secret yet: start the platform first")
        return _b64(hmac.digest(self._secret, b"link:" + text.encode(), "sha256")[:16])

    def sealed(self, text: str, seal: str) -> bool:
        return bool(seal) and hmac.compare_digest(seal.encode(), self.seal(text).encode())

    def _sign(self, payload: str) -> str:
        if not self._secret:
            raise RuntimeError("no signing secret yet: start the platform first")
        return _b64(hmac.digest(self._secret, b"fan:" + payload.encode(), "sha256")[:24])
