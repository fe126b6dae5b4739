"""Identifiers: short, unique, URL-safe and prefixed by what they name.

An id is a random per-process prefix and a counter: unique without a syscall per id (the
hot path makes one per claim). Ids are not secrets: every private object is checked
against its owner, and another fan's claim or order answers 404 whatever its id.
"""

from __future__ import annotations

import itertools
import os
import secrets

__all__ = ["CODE_PREFIX", "new_id", "new_priority_code", "new_referral_code"]

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_RUN = os.urandom(6).hex()
_COUNTER = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{_RUN}{next(_COUNTER):08x}"


def _code(length: int) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


CODE_PREFIX = "F-"


def new_priority_code() -> str:
    """Priority codes are bearer secrets: 60 random bits each."""
    return f"{CODE_PREFIX}{_code(4)}-{_code(4)}-{_code(4)}"


def new_referral_code() -> str:
    return _code(8)
