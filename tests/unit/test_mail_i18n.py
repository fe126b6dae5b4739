"""The e-mails' catalogues are whole: every string the e-mail code and templates say (as
`babel-emails.cfg` extracts them) is translated into Dutch and Chinese, with the same
placeholders, so no fan gets half a letter in English or a broken `%(name)s`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "src" / "soldout" / "locale"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> dict[str | tuple[str, ...], None]:
    with (ROOT / "babel-emails.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str | tuple[str, ...], None] = {}
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found[message] = None
    return found


def catalogue(locale: str) -> Catalog:
    with (LOCALES / locale / "LC_MESSAGES" / "emails.po").open("rb") as po:
        return read_po(po, locale=locale, domain="emails")


def test_the_extraction_finds_the_emails_strings() -> None:
    found = extracted()
    assert "Pay now" in found
    assert ("%(num)d minute", "%(num)d minutes") in found
    assert "Hello %(name)s," in found  # from the templates


@pytest.mark.parametrize("locale", ["nl", "zh_Hans"])
def test_every_string_is_translated_with_its_placeholders(locale: str) -> None:
    po = catalogue(locale)
    for message in extracted():
        key = message[0] if isinstance(message, tuple) else message
        entry = po.get(key)
        assert entry is not None, f"{key!r} is not in {locale}/emails.po (pybabel update)"
        translations = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        assert all(translations), f"{key!r} is not translated into {locale}"
        wanted = set(PLACEHOLDER.findall(key))
        for text in translations:
            assert set(PLACEHOLDER.findall(text)) == wanted, (locale, key, text)
        assert not entry.fuzzy, (locale, key)
