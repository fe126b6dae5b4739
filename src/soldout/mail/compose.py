"""From a notification waiting in the outbox to the bytes of an e-mail.

The letter is written in the fan's language and time zone (`i18n.Speaker`), laid out by
two Jinja2 templates (HTML, autoescaped; plain text), and wrapped as a MIME message with
both as alternatives. The Message-ID is the notification's own id, so every try of one
notification carries the same one: a copy a relay received twice is recognisably one
message (see docs/email.md, "once").

    sender = sender_address("Shop <shop@example.com>", "shop.example")
    composer = Composer(sender=sender, base_url="https://shop.example", facts=facts)
    envelope = await composer.compose(outgoing, shop, now)   # -> Envelope (MIME bytes)
"""

from __future__ import annotations

import email.utils
import functools
import textwrap
from datetime import datetime
from email.headerregistry import Address
from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from soldout import i18n
from soldout.domain.shop import Shop
from soldout.i18n import Speaker, speaking
from soldout.mail import mime
from soldout.mail.facts import Facts
from soldout.mail.letter import Context, Letter, Writer
from soldout.mail.order_letters import ORDER_LETTERS
from soldout.mail.sale_letters import SALE_LETTERS
from soldout.mail.transport import Envelope
from soldout.store.ports import OutgoingEmail

__all__ = ["KINDS", "Composer", "environment", "sender_address", "wrap"]

KINDS: dict[str, Writer] = {**SALE_LETTERS, **ORDER_LETTERS}
TEMPLATES = Path(__file__).resolve().parent / "templates"
_NAME = "\x00name\x00"  # where the fan's name goes in a rendered letter


def environment() -> Environment:
    """The e-mails' own Jinja2 environment: HTML autoescaped, text not, gettext speaking
    whatever language `speaking()` set."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    i18n.install(env)
    env.filters["wrap"] = wrap
    return env


def wrap(text: str, width: int = 72) -> str:
    """Plain text wrapped for reading, never inside a word, a hyphenated name or a link;
    Chinese (no spaces between words) is left to the reader's mail program."""
    if sum(1 for ch in text if ord(ch) > 0x2E7F) * 4 > len(text):
        return text
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def sender_address(mail_from: str | None, host: str) -> Address:
    """`SOLDOUT_MAIL_FROM` ("Shop <shop@example.com>" or "shop@example.com"), or
    noreply@ the shop's host. Raise ValueError if it is not one address."""
    if not mail_from:
        domain = host if "." in host and not host.replace(".", "").isdigit() else "localhost"
        return Address(addr_spec=f"noreply@{domain}")
    found = email.utils.getaddresses([mail_from])
    name, addr = found[0] if len(found) == 1 else ("", "")
    if addr.count("@") != 1 or any(c in addr for c in " <>,;\r\n") or not addr.isascii():
        raise ValueError("SOLDOUT_MAIL_FROM must be one e-mail address, e.g. shop@example.com")
    return Address(display_name=name, addr_spec=addr)


class Composer:
    def __init__(
        self,
        *,
        sender: Address,
        base_url: str,
        facts: Facts,
        reminder_minutes: int = 10,
    ) -> None:
        self.sender = sender
        self._base_url = base_url.rstrip("/")
        self._facts = facts
        self._reminder_minutes = reminder_minutes
        self._env = environment()
        self._html = self._env.get_template("letter.html")
        self._text = self._env.get_template("letter.txt")

    async def compose(self, outgoing: OutgoingEmail, shop: Shop, now: datetime) -> Envelope:
        note = outgoing.notification
        speaker = Speaker.of(outgoing.locale, outgoing.time_zone)
        with speaking(speaker):
            context = self._context(outgoing, speaker, shop, now)
            letter = await KINDS.get(note.kind, _plain)(context)
            html, text = self._render(letter, shop, speaker.html_lang, context.link("/me"))
        html = html.replace(_NAME, escape(outgoing.name))
        text = text.replace(_NAME, outgoing.name)
        display = self.sender.display_name or shop.name
        message_id = f"<{note.id}@{self.sender.domain or 'soldout'}>"
        headers = [
            mime.address("From", display, self.sender.addr_spec),
            mime.address("To", outgoing.name, outgoing.to),
            mime.unstructured("Subject", letter.subject),
            f"Date: {email.utils.format_datetime(now)}",
            f"Message-ID: {message_id}",
            f"Content-Language: {speaker.html_lang}",
            "Auto-Submitted: auto-generated",  # RFC 3834: no vacation replies to it
            mime.unstructured("X-Soldout-Kind", note.kind),
        ]
        data = mime.multipart(headers, text, html)
        return Envelope(note.id, self.sender.addr_spec, outgoing.to, data, message_id)

    @functools.lru_cache(maxsize=512)  # noqa: B019 (one composer per process)
    def _render(self, letter: Letter, shop: Shop, lang: str, account_url: str) -> tuple[str, str]:
        """Both bodies, without the fan's name (`_NAME` marks its place): a reminder to
        100,000 fans is rendered once per language and zone, not 100,000 times."""
        values = {
            "letter": letter,
            "shop": shop,
            "name": _NAME,
            "lang": lang,
            "preheader": letter.paragraphs[0] if letter.paragraphs else "",
            "account_url": account_url,
        }
        return self._html.render(values), self._text.render(values)

    def _context(
        self, outgoing: OutgoingEmail, speaker: Speaker, shop: Shop, now: datetime
    ) -> Context:
        return Context(
            note=outgoing.notification,
            fan_name=outgoing.name,
            speaker=speaker,
            shop=shop,
            facts=self._facts,
            now=now,
            base_url=self._base_url,
            reminder_minutes=self._reminder_minutes,
        )


async def _plain(c: Context) -> Letter:
    """A kind this version has no letter for: its in-app text, in English, as written."""
    return Letter(
        subject=i18n.gettext("A message from %(shop)s") % {"shop": c.shop.name},
        heading=i18n.gettext("A message from %(shop)s") % {"shop": c.shop.name},
        paragraphs=(c.note.message,),
        action=(i18n.gettext("Your account"), c.link("/me")),
    )
