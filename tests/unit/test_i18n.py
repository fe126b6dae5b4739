"""Languages, formats and the catalogues: every text the storefront (and the e-mails) can
show has a translation in each shipped language, with the same placeholders."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir, pathmatch
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from soldout import i18n
from soldout.i18n import Speaker, negotiate, speaking
from soldout.web.store_common import STORE_SCRIPTS, js_text

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [locale for locale in i18n.LANGUAGES if locale != i18n.DEFAULT_LOCALE]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("nl-BE,nl;q=0.9,en;q=0.8", "nl"),
        ("zh-CN,zh;q=0.9", "zh_Hans"),
        ("zh-Hans-SG", "zh_Hans"),
        ("zh-TW", "zh_Hans"),  # closer than English for most readers of Chinese
        ("fr-FR, en;q=0.1", "en"),
        ("fr", "en"),
        ("de;q=1, nl;q=0.5", "nl"),
        ("nl;q=0, zh;q=0.5", "zh_Hans"),  # q=0 means "not this one"
        ("en;q=0.2, nl;q=0.9", "nl"),
        ("", "en"),
        (None, "en"),
        ("'; DROP TABLE fans; --", "en"),
        ("x" * 5000, "en"),
    ],
)
def test_the_language_is_negotiated_from_accept_language(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_money_numbers_and_times_follow_the_language_and_the_zone() -> None:
    noon = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    dutch = Speaker.of("nl", "Europe/Amsterdam")
    assert dutch.money(19900, "EUR") == "€\xa0199,00"  # a no-break space
    assert dutch.money(150000, "JPY") == "JP¥\xa0150.000"  # yen have no minor units
    assert dutch.moment(noon) == "zo 6 dec 2026, 13:00 (Midden-Europese tijd)"
    english = Speaker.of("en", "America/New_York")
    assert english.money(19900, "EUR") == "€199.00"
    assert english.moment(noon) == "Sun, Dec 6, 2026, 07:00 (Eastern Time)"
    chinese = Speaker.of("zh_Hans", "Asia/Shanghai")
    assert chinese.moment(noon) == "2026年12月6日周日, 20:00 (中国时间)"
    assert chinese.day(date(2026, 12, 24)) == "2026年12月24日"
    assert Speaker.of("en", "Not/AZone").moment(noon).endswith("12:00 (UTC)")
    assert Speaker.of("xx").locale == "en"


def test_the_current_language_is_spoken_only_within_its_block() -> None:
    assert i18n.gettext("Sold out") == "Sold out"
    with speaking(Speaker.of("nl")):
        assert i18n.gettext("Sold out") == "Uitverkocht"
        with speaking(Speaker.of("zh_Hans")):
            assert i18n.gettext("Sold out") == "已售罄"
        assert i18n.gettext("Sold out") == "Uitverkocht"
    assert i18n.gettext("Sold out") == "Sold out"


def _extracted(config: Path) -> dict[str | tuple[str, ...], tuple[str, int]]:
    """Every text the sources mark for translation, as `pybabel extract` finds them."""
    with config.open() as source:
        method_map, options_map = parse_mapping_cfg(source)
    found: dict[str | tuple[str, ...], tuple[str, int]] = {}
    for filename, line, message, _, _ in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2), "t": None},
    ):
        found.setdefault(message, (filename, line))
    return found


CATALOGUES = [
    (config, domain)
    for config, domain in (("babel.cfg", "messages"), ("babel-emails.cfg", "emails"))
    if (ROOT / config).exists()
]


@pytest.mark.parametrize(("config", "domain"), CATALOGUES)
@pytest.mark.parametrize("locale", SHIPPED)
def test_every_text_is_translated_with_the_same_placeholders(
    config: str, domain: str, locale: str
) -> None:
    with (i18n.LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    problems = []
    for message, (filename, line) in _extracted(ROOT / config).items():
        key = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(key)
        where = f"{filename}:{line}: {key!r}"
        if entry is None or entry.fuzzy:
            problems.append(f"not translated: {where}")
            continue
        forms = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = set(PLACEHOLDER.findall(key))
        for form in forms:
            if not form:
                problems.append(f"empty: {where}")
            elif set(PLACEHOLDER.findall(form)) - wanted or (
                wanted - set(PLACEHOLDER.findall(form)) - {"count"}
            ):
                problems.append(f"placeholders differ: {where} -> {form!r}")
    assert problems == []


@pytest.mark.parametrize("locale", SHIPPED)
def test_no_text_means_two_things_across_the_domains(locale: str) -> None:
    """The pages' and the e-mails' catalogues are merged into one (`i18n.translations`),
    the e-mails' last: a text both have must be translated alike, or the page speaks the
    e-mail's words (the ideas board's sort tabs were read out as "Bestelling", an order)."""
    found = {}
    for domain in i18n.DOMAINS:
        with (i18n.LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as po:
            found[domain] = {m.id: m.string for m in read_po(po, locale=locale) if m.id}
    pages, mails = found["messages"], found["emails"]
    differ = {k: (pages[k], mails[k]) for k in pages.keys() & mails.keys() if pages[k] != mails[k]}
    assert differ == {}


def _marked(script: Path) -> set[str]:
    """The texts a script marks `t("...")`, outside its comments."""
    source = re.sub(r"/\*.*?\*/", "", script.read_text(), flags=re.S)
    return set(re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', source))


def test_every_text_the_storefront_scripts_show_reaches_the_page_in_the_fans_language() -> None:
    """What the page sends its scripts (`js_text`) holds every translated `t("...")` of
    each, also those inside a template literal or with arguments (six were left out, and
    shown in English on Dutch pages). That each is translated is the test above's."""
    marked = set().union(*(_marked(script) for script in STORE_SCRIPTS))
    assert {
        "Pay now",
        "Time left to pay: %(left)s (until %(time)s).",
        "Yes, give it back",
    } <= marked
    dutch = js_text("nl")
    untranslated = {m for m in marked if Speaker.of("nl").gettext(m) == m}
    assert marked - untranslated - set(dutch) == set()
    assert dutch["Time left to pay: %(left)s (until %(time)s)."].startswith("Tijd om te betalen")
    assert dutch["Pay now"] != "Pay now"


def test_the_catalogues_read_every_script_whose_texts_the_page_sends() -> None:
    """babel.cfg extracts the texts of exactly the scripts the server translates for the
    page (`static/store/*.js`), and every script with a `t("...")` is one of them: a text
    of a script outside either would be shown in English on a Dutch page."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, _ = parse_mapping_cfg(cfg)
    static = ROOT / "src" / "soldout" / "web" / "static"
    scripts = {
        p.relative_to(ROOT).as_posix() for p in static.rglob("*.js") if "vendor" not in p.parts
    }
    extracted = {
        s
        for s in scripts
        for pattern, how in method_map
        if how == "javascript" and pathmatch(pattern, s)
    }
    assert extracted == {p.relative_to(ROOT).as_posix() for p in STORE_SCRIPTS}
    assert {s for s in scripts if _marked(ROOT / s)} <= extracted
