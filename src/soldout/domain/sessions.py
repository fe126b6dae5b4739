"""Browser sessions: what a cookie stands for, and how long it may.

A cookie holds only a random session id; the record keeps its digest, whose it is and
until when. Lifetimes: an admin signs in again every working day (12 hours), a fan once a
month (30 days, as their bearer tokens, `FAN_TOKEN_LIFETIME`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "ADMIN_SESSION_LIFETIME",
    "FAN_SESSION_LIFETIME",
    "FAN_TOKEN_LIFETIME",
    "INVITE_LIFETIME",
    "Session",
    "SessionKind",
    "digest_of",
]

ADMIN_SESSION_LIFETIME = timedelta(hours=12)
FAN_SESSION_LIFETIME = timedelta(days=30)
FAN_TOKEN_LIFETIME = timedelta(days=30)
INVITE_LIFETIME = timedelta(days=3)


class SessionKind(StrEnum):
    ADMIN = "admin"
    FAN = "fan"


def digest_of(secret: str) -> str:
    """What the record keeps of a session id (or an invite key): a stolen copy of the
    database holds no id that works. SHA-256 suffices: the ids are 256 random bits."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Session:
    digest: str
    kind: SessionKind
    subject: str  # a fan id, an admin account id, or `team.BOOTSTRAP`
    created_at: datetime
    expires_at: datetime

    def live_at(self, now: datetime) -> bool:
        return now < self.expires_at
