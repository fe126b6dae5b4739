"""From a notification waiting in the outbox to the bytes of an e-mail.

The letter is written in the fan's language and time zone (`i18n.Speaker`) from the
facts as they are now (`draft`), then laid out by two Jinja2 templates (HTML,
autoescaped; plain text) and wrapped as a MIME message with both as alternatives
(`typeset.py`, which the outbox may run in a process of its own). The Message-ID is the
notification's own id, so every try of one notification carries the same one: a copy a
relay received twice is recognisably one message (see docs/email.md, "once").

    sender = sender_address("Shop <shop@example.com>", "shop.example")
    composer = Composer(sender=sender, base_url="https://shop.example", facts=facts)
    draft = await composer.draft(outgoing, shop, now)        # -> Draft (written, picklable)
    envelope = await composer.compose(outgoing, shop, now)   # -> Envelope (MIME bytes)
"""

from __future__ import annotations

import email.utils
from datetime import datetime
from email.headerregistry import Address

from soldout import i18n
from soldout.domain.shop import Shop
from soldout.engine.maker_news import TEAM_KINDS
from soldout.i18n import Speaker, speaking
from soldout.mail.board_letters import BOARD_LETTERS
from soldout.mail.facts import Facts
from soldout.mail.launch_letters import LAUNCH_LETTERS
from soldout.mail.letter import Context, Letter, Writer
from soldout.mail.order_letters import ORDER_LETTERS
from soldout.mail.sale_letters import SALE_LETTERS
from soldout.mail.sign_in_letters import SIGN_IN_LETTERS
from soldout.mail.team_letters import TEAM_LETTERS
from soldout.mail.transport import Envelope
from soldout.mail.typeset import Draft, typeset
from soldout.store.ports import OutgoingEmail

__all__ = ["KINDS", "Composer", "sender_address"]

KINDS: dict[str, Writer] = {
    **SIGN_IN_LETTERS,
    **SALE_LETTERS,
    **LAUNCH_LETTERS,
    **ORDER_LETTERS,
    **BOARD_LETTERS,
    **TEAM_LETTERS,
}


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

    async def draft(self, outgoing: OutgoingEmail, shop: Shop, now: datetime) -> Draft:
        """The letter written from the facts as they are now, addressed; raises `Obsolete`
        when it should not go any more."""
        note = outgoing.notification
        to_team = note.kind in TEAM_KINDS  # the maker's: English, the shop's zone, the admin
        speaker = (
            Speaker.of(None, shop.time_zone)
            if to_team
            else Speaker.of(outgoing.locale, outgoing.time_zone)
        )
        await self._facts.warm(note.data)
        with speaking(speaker):
            context = self._context(outgoing, speaker, shop, now)
            letter = await KINDS.get(note.kind, _plain)(context)
        return Draft(
            notification_id=note.id,
            kind=note.kind,
            letter=letter,
            shop=shop,
            speaker=speaker,
            account_url=context.link("/admin/team" if to_team else "/me"),
            name=outgoing.name,
            to=outgoing.to,
            sender_name=self.sender.display_name,
            sender_address=self.sender.addr_spec,
            written_at=now,
        )

    async def compose(self, outgoing: OutgoingEmail, shop: Shop, now: datetime) -> Envelope:
        """Written and laid out here."""
        return typeset(await self.draft(outgoing, shop, now))

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
