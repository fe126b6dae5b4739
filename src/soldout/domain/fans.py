"""Fans and their reservations."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from soldout.domain.addresses import ShippingAddress
from soldout.domain.errors import InvalidInput

__all__ = ["ERASED_NAME", "Fan", "Reservation", "erased_email", "normalise_email"]

ERASED_NAME = "(erased)"


def erased_email(fan_id: str) -> str:
    """What an erased fan's e-mail becomes: unique, and never deliverable (RFC 2606)."""
    return f"erased-{fan_id}@erased.invalid"


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


def normalise_email(email: str) -> str:
    """The one form an address is kept and looked up in, so that a second way of writing
    it finds the same fan instead of making a second account: NFKC first (full-width and
    other compatibility forms are the plain letters they stand for: the full-width
    "ann@fans.test" a Chinese or Japanese keyboard types, U+FF41 U+FF4E U+FF4E U+FF20 ...,
    is "ann@fans.test"), then lower case; a domain in another script in its ASCII form
    ("münchen.de" is "xn--mnchen-3ya.de"), so that every mail server can take it. The
    part before the @ must then be ASCII: not every relay accepts more (RFC 6531), and a
    fan whose sign-in links cannot be delivered could never sign in.

    Every address an earlier version accepted comes out as that version kept it (it
    lower-cased and IDNA-encoded alike, and NFKC leaves ASCII as it is), so the rows a
    store already holds need no migration; and the form is stable:
    `normalise_email(normalise_email(x)) == normalise_email(x)`."""
    if not isinstance(email, str):
        raise InvalidInput("a valid e-mail address is required", field="email")
    text = unicodedata.normalize("NFKC", email).strip()
    if not _EMAIL.match(text):
        raise InvalidInput("a valid e-mail address is required", field="email")
    local, _, domain = text.lower().rpartition("@")
    if not local.isascii():
        raise InvalidInput(
            "the part of the e-mail address before the @ must be in Latin letters, digits"
            " and . _ + -",
            field="email",
        )
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput("a valid e-mail address is required", field="email") from None
    return f"{local}@{domain}"


@dataclass(frozen=True, slots=True)
class Fan:
    id: str
    email: str
    name: str
    referral_code: str
    referred_by: str | None
    created_at: datetime
    address: str | None = None  # shipping address as one line, for duplicate-buyer checks
    phone: str | None = None
    shipping: ShippingAddress | None = None  # where their orders ship (asked at payment)
    locale: str | None = None  # the language of their pages and e-mails ("nl", "zh_Hans")
    time_zone: str | None = None  # IANA name, as their browser reported it
    erased_at: datetime | None = None  # personal data erased at their request
    rehearsal: str | None = None  # a fan made up by a rehearsal (its run id)
    # when they first signed in by a link mailed to `email` (proving it is theirs); until
    # then anyone could have made the account with that address (`Fans.prove_email`)
    email_proven_at: datetime | None = None

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    launch_id: str
    fan_id: str
    created_at: datetime
    sku: str | None = None  # the SKU a draw entry is for
