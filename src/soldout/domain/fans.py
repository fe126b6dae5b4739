"""Fans and their reservations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from soldout.domain.errors import InvalidInput

__all__ = ["Fan", "Reservation", "normalise_email"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


def normalise_email(email: str) -> str:
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise InvalidInput("a valid e-mail address is required", field="email")
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class Fan:
    id: str
    email: str
    name: str
    referral_code: str
    referred_by: str | None
    created_at: datetime
    address: str | None = None  # shipping address, for duplicate-buyer checks
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    launch_id: str
    fan_id: str
    created_at: datetime
    sku: str | None = None  # the SKU a draw entry is for
