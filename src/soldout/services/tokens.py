"""Signed bearer tokens: a fan's token proves its fan id without a store read."""

from __future__ import annotations

import base64
import hashlib
import hmac

__all__ = ["TokenSigner", "admin_fingerprint"]

CACHE_SIZE = 200_000


def admin_fingerprint(token: str) -> str:
    """Who the audit log names for the admin: the token's fingerprint, never the token.

    `admin_fingerprint("secret")` -> "admin:2bb80d537b1d"
    """
    return f"admin:{hashlib.sha256(token.encode()).hexdigest()[:12]}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenSigner:
    """`signer.fan_token(fan_id)` -> "fan_ab12.<signature>"; `signer.fan_of(token)` -> id."""

    def __init__(self, secret: bytes | None, admin_token: str) -> None:
        self._secret = b""
        if secret is not None:
            self.use_secret(secret)
        self._admin = admin_token.encode()
        self._verified: dict[str, str] = {}
        self._revoked: set[str] = set()

    @property
    def has_secret(self) -> bool:
        return bool(self._secret)

    def use_secret(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the signing secret must be at least 32 bytes")
        self._secret = secret
        self._verified = {}

    def fan_token(self, fan_id: str) -> str:
        return f"{fan_id}.{self._sign(fan_id)}"

    def fan_of(self, token: str) -> str | None:
        """The fan a token was signed for, or None. Valid tokens are remembered (up to
        `CACHE_SIZE`), so a fan pressing "buy" repeatedly costs one HMAC, not one each."""
        known = self._verified.get(token)
        if known is not None:
            return known
        fan_id, dot, signature = token.rpartition(".")
        if not dot or not fan_id.startswith("fan_"):
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(fan_id).encode()):
            return None
        if fan_id in self._revoked:
            return None
        if len(self._verified) >= CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = fan_id
        return fan_id

    def revoke(self, fan_id: str) -> None:
        """Every token of this fan stops working (an erased account)."""
        self._revoked.add(fan_id)
        for token in [t for t, f in self._verified.items() if f == fan_id]:
            del self._verified[token]

    def revoked(self, fan_id: str) -> bool:
        return fan_id in self._revoked

    def is_admin(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._admin)

    def _sign(self, fan_id: str) -> str:
        if not self._secret:
            raise RuntimeError("no signing secret yet: start the platform first")
        return _b64(hmac.digest(self._secret, b"fan:" + fan_id.encode(), "sha256")[:24])
