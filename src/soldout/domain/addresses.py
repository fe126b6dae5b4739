"""Where an order ships: a postal address and a phone, checked as a courier would need them.

    address = ShippingAddress.parse({"name": "Ann de Vries", "line1": "Keizersgracht 1",
        "postal_code": "1015 cd", "city": "Amsterdam", "country": "nl",
        "phone": "020 123 4567"})
    address.postal_code, address.phone   # -> "1015 CD", "+31201234567"

Countries are ISO 3166-1 alpha-2 codes known to the CLDR (through Babel); phones are
checked and written in E.164 by libphonenumber, read in the address's country when they
carry no country code; postal codes are checked where the format is fixed and well known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import phonenumbers
from babel import Locale

from soldout.domain.duplicates import normalise_address
from soldout.domain.errors import InvalidInput
from soldout.domain.text import check_text

__all__ = ["COUNTRIES", "REGION_REQUIRED", "ShippingAddress", "country_names"]

_ENGLISH = Locale("en")
# Territories that are countries or areas goods are shipped to (two letters; not "EU",
# "UN", the private-use "ZZ" or CLDR's test regions "Pseudo-Accents" XA and "Pseudo-Bidi"
# XB).
_NOT_PLACES = {"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"}
COUNTRIES: frozenset[str] = frozenset(
    code
    for code in map(str, _ENGLISH.territories)
    if len(code) == 2 and code.isalpha() and code not in _NOT_PLACES
)

# Postal codes whose format is fixed (normalised to upper case, single spaces).
_POSTAL = {
    "NL": (re.compile(r"^[1-9][0-9]{3} ?[A-Z]{2}$"), "1234 AB"),
    "BE": (re.compile(r"^[1-9][0-9]{3}$"), "1000"),
    "DE": (re.compile(r"^[0-9]{5}$"), "10115"),
    "FR": (re.compile(r"^[0-9]{5}$"), "75001"),
    "ES": (re.compile(r"^[0-9]{5}$"), "28001"),
    "IT": (re.compile(r"^[0-9]{5}$"), "00100"),
    "AT": (re.compile(r"^[0-9]{4}$"), "1010"),
    "CH": (re.compile(r"^[0-9]{4}$"), "8001"),
    "DK": (re.compile(r"^[0-9]{4}$"), "1050"),
    "PL": (re.compile(r"^[0-9]{2}-[0-9]{3}$"), "00-001"),
    "US": (re.compile(r"^[0-9]{5}(-[0-9]{4})?$"), "94105"),
    "CN": (re.compile(r"^[0-9]{6}$"), "100000"),
    "IN": (re.compile(r"^[1-9][0-9]{5}$"), "110001"),
    "JP": (re.compile(r"^[0-9]{3}-?[0-9]{4}$"), "100-0001"),
    "GB": (
        re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$"),
        "SW1A 1AA",
    ),
    "CA": (re.compile(r"^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$"), "K1A 0B1"),
}
# Countries whose addresses have no postal code at all.
_NO_POSTAL = frozenset({"AE", "AG", "AO", "BS", "BZ", "HK", "IE", "JM", "MO", "QA", "TT"})
_LIMITS = {"name": 200, "line1": 200, "line2": 200, "postal_code": 20, "city": 100, "region": 100}


def country_names(locale: str = "en") -> list[tuple[str, str]]:
    """(code, name in `locale`) for every country, sorted by name as people read them."""
    names = Locale.parse(locale).territories
    return sorted(((c, names.get(c, c)) for c in COUNTRIES), key=lambda p: p[1].casefold())


def _text(raw: Mapping[str, Any], key: str, *, required: bool) -> str:
    """One line of the address, its white space (tabs and line breaks of a pasted address
    too) made single spaces, checked as anything people write (`check_text`)."""
    value = raw.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be text", field=f"shipping.{key}")
    return check_text(
        " ".join(value.split()),
        field=f"shipping.{key}",
        limit=_LIMITS[key],
        required=required,
        label=key.replace("_", " "),
    )


@dataclass(frozen=True, slots=True)
class ShippingAddress:
    name: str
    line1: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    phone: str  # E.164
    line2: str = ""
    postal_code: str = ""
    region: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ShippingAddress:
        """Check and normalise what a fan typed; `InvalidInput` names the field at fault
        (`shipping.postal_code`, ...)."""
        if not isinstance(raw, Mapping):
            raise InvalidInput("the shipping address must be an object", field="shipping")
        unknown = set(raw) - {*_LIMITS, "country", "phone"}
        if unknown:
            raise InvalidInput(
                f"unknown field {sorted(unknown)[0]!r}", field=f"shipping.{sorted(unknown)[0]}"
            )
        country = raw.get("country")
        if not isinstance(country, str) or country.strip().upper() not in COUNTRIES:
            raise InvalidInput(
                "country must be a two-letter ISO 3166 code, e.g. NL", field="shipping.country"
            )
        country = country.strip().upper()
        postal = _text(raw, "postal_code", required=country not in _NO_POSTAL).upper()
        rule = _POSTAL.get(country)
        if rule is not None and postal:
            pattern, example = rule
            if not pattern.match(postal):
                raise InvalidInput(
                    f"this is not a postal code of {_ENGLISH.territories.get(country, country)}"
                    f" (for example {example})",
                    field="shipping.postal_code",
                )
            if country == "NL" and " " not in postal:
                postal = f"{postal[:4]} {postal[4:]}"
        return cls(
            name=_text(raw, "name", required=True),
            line1=_text(raw, "line1", required=True),
            line2=_text(raw, "line2", required=False),
            postal_code=postal,
            city=_text(raw, "city", required=True),
            region=_text(raw, "region", required=country in REGION_REQUIRED),
            country=country,
            phone=_phone(raw.get("phone"), country),
        )

    def one_line(self) -> str:
        """The address as one line (for the duplicate-buyer check and exports)."""
        parts = [self.line1, self.line2, self.postal_code, self.city, self.region, self.country]
        return ", ".join(p for p in parts if p)

    def key(self) -> str:
        """The normalised address a duplicate-buyer check compares."""
        return normalise_address(self.one_line())

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, str]) -> ShippingAddress:
        """From what `as_dict` gave (already checked when it was first taken)."""
        return cls(**{k: raw.get(k, "") for k in cls.__dataclass_fields__})

    def lines(self, locale: str = "en") -> list[str]:
        """The address as a label prints it, in its country's order: "Mountain View, CA
        94043" in the United States, Canada and Australia; the postcode on a line of its
        own in the United Kingdom; the postal code before the city elsewhere. An address
        in China, read in Chinese or written in Chinese characters, goes from the country
        down to the name ("中国 / 518000 / 广东省深圳市 / 科技园路1号 / 张三"), as
        libaddressinput's format for CN; in Latin letters to others, as elsewhere."""
        country = Locale.parse(locale).territories.get(self.country, self.country)
        if self.country in _LARGEST_FIRST and (locale.startswith("zh") or self._in_han()):
            place = _joined(self.region, self.city)
            return [
                p
                for p in (country, self.postal_code, place, self.line1, self.line2, self.name)
                if p
            ]
        head = [self.name, self.line1, self.line2]
        if self.country in _CITY_REGION_POSTAL:
            region = " ".join(p for p in (self.region, self.postal_code) if p)
            tail = [", ".join(p for p in (self.city, region) if p)]
        elif self.country in _POSTAL_LAST:
            tail = [self.city, self.region, self.postal_code]
        else:
            tail = [" ".join(p for p in (self.postal_code, self.city) if p), self.region]
        return [p for p in (*head, *tail, country) if p]

    def _in_han(self) -> bool:
        return any(_HAN.search(p) for p in (self.name, self.line1, self.city, self.region))


def _joined(larger: str, smaller: str) -> str:
    """Province and city as Chinese writes them: together ("广东省深圳市"), or with a
    space where either is in Latin letters."""
    if larger and smaller and _HAN.match(larger[-1]) and _HAN.match(smaller[0]):
        return larger + smaller
    return " ".join(p for p in (larger, smaller) if p)


REGION_REQUIRED = frozenset({"US", "CA", "AU"})  # a state or province, or no delivery
_CITY_REGION_POSTAL = REGION_REQUIRED
_POSTAL_LAST = frozenset({"GB", "IE"})  # the postcode (Eircode) on its own last line
_LARGEST_FIRST = frozenset({"CN"})
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _phone(value: object, country: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            "a phone number is required (the courier calls it)", field="shipping.phone"
        )
    if len(value) > 40:
        raise InvalidInput("phone is over 40 characters", field="shipping.phone")
    try:
        number = phonenumbers.parse(value, country)
    except phonenumbers.NumberParseException:
        raise InvalidInput("this is not a phone number", field="shipping.phone") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            "this is not a valid phone number (add the country code, e.g. +31)",
            field="shipping.phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
