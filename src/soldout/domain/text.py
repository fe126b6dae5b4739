r"""What people may write where soldout keeps names and text: one rule for every field.

A fan's name, a product's or a SKU's name, a launch's title, an address line, the shop's
name, a refund's reason: each is shown on pages, printed on labels and written into
e-mails and CSV exports, so each is refused when it holds

- a control character (C0, DEL and C1: NUL, ESC, ...), which no keyboard types and which
  truncates or garbles the text downstream (a NUL ends a C string; ESC starts a terminal
  escape). Text of several lines (a description) may hold tabs and line breaks;
- a bidi embedding, override or isolate (U+202A-U+202E, U+2066-U+2069): it makes text show
  in another order than it is stored ("Trojan Source", CVE-2021-42574), so "Ann\u202egpj.exe"
  reads "Annexe.jpg". The marks LRM and RLM, which mixed-script names need, stay allowed;
- a lone surrogate (JSON can escape one: "\ud800"): it has no UTF-8, so it can be neither
  stored nor sent;

and a required field is refused when it only looks filled: it needs one character that
shows (a letter, digit, punctuation or symbol). White space of any width, zero-width and
joiner characters, marks alone, and the Hangul and Braille fillers do not count.

    check_text("  Ann de Vries ", field="name", limit=200)   # -> "Ann de Vries"
    check_text("\u200b\u3164", field="name", limit=200)      # InvalidInput on "name"
"""

from __future__ import annotations

import re
import unicodedata

from soldout.domain.errors import InvalidInput

__all__ = ["check_text", "shows"]

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
# C0 and C1 controls, DEL, the line and paragraph separators, bidi controls, surrogates.
_NOT_ON_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}\ud800-\udfff]")
# The same, less tab, line feed, carriage return and the Unicode line separators.
_NOT_IN_LINES = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}\ud800-\udfff]")
# Letters and symbols that render as nothing (used to make names that look empty).
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def shows(char: str) -> bool:
    """Whether one character is seen when printed: a letter, digit, punctuation or symbol
    that is not one of the blank fillers."""
    return unicodedata.category(char)[0] in "LNPS" and char not in _FILLERS


def check_text(
    value: object,
    *,
    field: str,
    limit: int,
    required: bool = True,
    lines: bool = False,
    label: str | None = None,
) -> str:
    """`value` if people may write it in `field`, without the white space around it (text
    of several `lines` is returned whole: Markdown's leading spaces mean something);
    `InvalidInput` on `field` otherwise. `limit` counts characters of what is returned;
    `label` names the field in the message (by default, the last part of `field`)."""
    name = label or field.rsplit(".", 1)[-1].replace("_", " ")
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text", field=field)
    text = value if lines else value.strip()
    found = (_NOT_IN_LINES if lines else _NOT_ON_ONE_LINE).search(text)
    if found is not None:
        raise InvalidInput(f"{name} holds {_kind(found.group())}: remove it", field=field)
    if required and not any(map(shows, text)):
        raise InvalidInput(
            f"{name} is required: spaces and invisible characters alone do not count",
            field=field,
        )
    if len(text) > limit:
        raise InvalidInput(f"{name} is over {limit} characters", field=field)
    return text


def _kind(char: str) -> str:
    """What `char` is, with its code point, and why it cannot stay."""
    code_point = f"U+{ord(char):04X}"
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        why = "which shows text in another order than it is written"
        return f"a bidi control ({code_point}), {why}"
    if "\ud800" <= char <= "\udfff":
        return f"half of a UTF-16 surrogate pair ({code_point}), which is not text"
    return f"a control character ({code_point})"
