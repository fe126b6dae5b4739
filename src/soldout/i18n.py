"""Languages, time zones and formats: how the shop speaks to each fan.

One module owns it. The storefront and the e-mails are written in English inside
`_("...")` / `{% trans %}` and translated with gettext catalogues (`locale/*/LC_MESSAGES/
*.po`, compiled in memory on first use: no build step). Dates, numbers and money are
formatted by Babel (CLDR) in the fan's language, and times in the fan's own time zone,
named, so "13:00" never leaves a fan guessing which 13:00.

    speaker = Speaker.of("nl", "Europe/Amsterdam")
    with speaking(speaker):
        gettext("Sold out")                    # -> "Uitverkocht"
    speaker.money(19900, "EUR")                # -> "€ 199,00"
    speaker.moment(datetime(2026, 12, 6, 12, tzinfo=UTC))
    # -> "zo 6 dec 2026, 13:00 (Midden-Europese tijd)"
"""

from __future__ import annotations

import contextlib
import functools
import gettext as _gettext
import io
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_skeleton, get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, get_currency_precision
from babel.support import Translations
from jinja2 import Environment

__all__ = [
    "DEFAULT_LOCALE",
    "LANGUAGES",
    "Speaker",
    "current",
    "gettext",
    "install",
    "negotiate",
    "ngettext",
    "speaking",
    "supported",
    "valid_zone",
]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAINS = ("messages", "emails")
DEFAULT_LOCALE = "en"
# Shipped languages, each named in itself (as a language switcher shows them).
LANGUAGES = {"en": "English", "nl": "Nederlands", "zh_Hans": "简体中文"}
_ALIASES = {"zh": "zh_Hans", "zh_hans": "zh_Hans", "zh_cn": "zh_Hans", "zh_sg": "zh_Hans"}
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def supported(code: str | None) -> str | None:
    """The shipped locale a code names ("nl-BE" -> "nl", "zh-CN" -> "zh_Hans"), or None."""
    if not code or not _LANGUAGE_TAG.match(code):
        return None
    parts = code.replace("-", "_").split("_")
    for n in range(len(parts), 0, -1):
        candidate = "_".join(parts[:n])
        exact = next((k for k in LANGUAGES if k.lower() == candidate.lower()), None)
        if exact is not None:
            return exact
        alias = _ALIASES.get(candidate.lower())
        if alias is not None:
            return alias
    return None


def negotiate(accept_language: str | None) -> str:
    """The best shipped locale for an `Accept-Language` header (q-values honoured)."""
    wanted: list[tuple[float, int, str]] = []
    for i, item in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            wanted.append((-quality, i, tag.strip()))
    for _, _, tag in sorted(wanted):
        found = supported(tag)
        if found is not None:
            return found
    return DEFAULT_LOCALE


def valid_zone(name: str | None) -> ZoneInfo | None:
    """An IANA time zone by name ("Europe/Amsterdam"), or None if it is not one."""
    if not name or len(name) > 64 or not re.match(r"^[A-Za-z0-9_+\-/]+$", name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@functools.cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalogues of `locale` (every domain merged), made once per process."""
    merged: Translations | None = None
    for domain in DOMAINS:
        po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"
        if not po.exists():
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=locale, domain=domain)
        compiled = io.BytesIO()
        write_mo(compiled, catalog, use_fuzzy=False)
        compiled.seek(0)
        loaded = Translations(compiled, domain=domain)
        if merged is None:
            merged = loaded
        else:
            merged.merge(loaded)
    return merged if merged is not None else _gettext.NullTranslations()


@dataclass(frozen=True, slots=True)
class Speaker:
    """A language and a time zone: what a page or an e-mail is rendered in."""

    locale: str
    zone: tzinfo

    @classmethod
    def of(cls, locale: str | None, zone: str | None = None) -> Speaker:
        return cls(supported(locale) or DEFAULT_LOCALE, valid_zone(zone) or UTC)

    @property
    def html_lang(self) -> str:
        """The BCP 47 tag for `<html lang>` ("zh-Hans")."""
        return self.locale.replace("_", "-")

    @property
    def zone_key(self) -> str:
        return getattr(self.zone, "key", "UTC")

    def gettext(self, message: str) -> str:
        return translations(self.locale).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return translations(self.locale).ngettext(singular, plural, n)

    def money(self, amount: int, currency: str) -> str:
        """Minor units as this fan reads money ("€ 199,00", "€199.00", "¥1,500")."""
        digits = get_currency_precision(currency)
        return format_currency(Decimal(amount).scaleb(-digits), currency, locale=self.locale)

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.locale)

    def zone_name(self, at: datetime | None = None) -> str:
        """The zone as people say it ("Central European Time"); UTC is "UTC"."""
        if self.zone_key in ("UTC", "Etc/UTC"):
            return "UTC"
        return get_timezone_name(self.zone, "long", locale=self.locale)

    def moment(self, value: datetime) -> str:
        """A date and time in this fan's zone, with the zone named."""
        local = value.astimezone(self.zone)
        day = format_skeleton("yMMMEd", local, locale=self.locale)
        clock = format_skeleton("Hm", local, locale=self.locale)
        return f"{day}, {clock} ({self.zone_name(value)})"

    def time(self, value: datetime) -> str:
        """A time of day in this fan's zone, with the zone named ("13:00 (CET)")."""
        local = value.astimezone(self.zone)
        return f"{format_skeleton('Hm', local, locale=self.locale)} ({self.zone_name(value)})"

    def day(self, value: date | str | None) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        return format_date(value, "medium", locale=self.locale)

    def country(self, code: str) -> str:
        return str(Locale.parse(self.locale).territories.get(code, code))


_ENGLISH = Speaker.of(DEFAULT_LOCALE)  # frozen: safe to share as the default
_CURRENT: ContextVar[Speaker] = ContextVar("speaker", default=_ENGLISH)


def current() -> Speaker:
    return _CURRENT.get()


@contextlib.contextmanager
def speaking(speaker: Speaker) -> Iterator[Speaker]:
    """Render in `speaker`'s language within the block (pages, e-mails)."""
    token = _CURRENT.set(speaker)
    try:
        yield speaker
    finally:
        _CURRENT.reset(token)


def gettext(message: str) -> str:
    """Translate `message` into the language being spoken now."""
    return _CURRENT.get().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _CURRENT.get().ngettext(singular, plural, n)


def install(environment: Environment) -> None:
    """Give Jinja2 `{% trans %}`, `_()` and `ngettext()` that speak the current language."""
    environment.add_extension("jinja2.ext.i18n")
    callables: Any = environment
    callables.install_gettext_callables(gettext=gettext, ngettext=ngettext, newstyle=True)
