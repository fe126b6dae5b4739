"""Identifiers: short, random, URL-safe and prefixed by what they name."""

from __future__ import annotations

import os
import secrets

__all__ = ["new_id", "new_priority_code", "new_referral_code"]

_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(10).hex()}"


def _code(length: int) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


def new_priority_code() -> str:
    return f"F-{_code(4)}-{_code(4)}-{_code(4)}"


def new_referral_code() -> str:
    return _code(8)
