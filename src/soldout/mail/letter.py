"""What every e-mail is made of, before it becomes HTML and text.

Each kind of notification has a writer (`sale_letters.py`, `order_letters.py`) that turns
the notification into a `Letter`: a subject, a heading, paragraphs, at most one button,
a table of details. The two templates (`templates/letter.html`, `letter.txt`) lay out any
letter, so a message's HTML and its plain text always say the same thing, and a new kind
is a function, not two templates to keep in step.

A writer raises `Obsolete` when the message is no longer true or useful by the time its
turn comes (a claim paid before its reminder went, a sign-in link already expired): the
outbox records it `dropped` instead of sending it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soldout.domain.notifications import Notification
from soldout.domain.shop import Shop
from soldout.i18n import Speaker, ngettext
from soldout.mail.facts import Facts

__all__ = ["Context", "Letter", "Obsolete", "Writer"]


class Obsolete(Exception):
    """This message should not go any more; the reason is recorded."""


@dataclass(frozen=True, slots=True)
class Letter:
    subject: str
    heading: str
    paragraphs: tuple[str, ...]
    action: tuple[str, str] | None = None  # (label, absolute URL)
    details: tuple[tuple[str, str], ...] = ()  # (label, value) rows
    small_print: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What a writer may use: the notification, who it is for and in which language and
    zone, the shop, the facts as they are now, and how to make an absolute link."""

    note: Notification
    fan_name: str
    speaker: Speaker
    shop: Shop
    facts: Facts
    now: datetime
    base_url: str
    reminder_minutes: int = 10

    @property
    def data(self) -> dict[str, Any]:
        return self.note.data

    def link(self, path: str) -> str:
        return self.base_url + path

    def at(self, key: str) -> datetime | None:
        """A moment from the notification's data (ISO 8601), or None."""
        value = self.data.get(key)
        return datetime.fromisoformat(value) if isinstance(value, str) and value else None

    def when(self, moment: datetime) -> str:
        """ "13:00 (Central European Time)" if it is today where the fan is, else with the
        date: a deadline never leaves a fan guessing which day or which zone."""
        zone = self.speaker.zone
        today = moment.astimezone(zone).date() == self.now.astimezone(zone).date()
        return _said(self.speaker, moment, today)

    def moment(self, moment: datetime) -> str:
        """The date and time, with the zone named."""
        return _said(self.speaker, moment, False)

    def money(self, amount: int, currency: str) -> str:
        return self.speaker.money(amount, currency)

    def minutes(self, count: int) -> str:
        return ngettext("%(num)d minute", "%(num)d minutes", count) % {"num": count}

    def item(self, launch_id: str, sku: str | None, quantity: int = 1) -> str:
        """The SKU's name as the maker wrote it ("Model One 64 GB black"), with a count
        when there is more than one."""
        product = self.facts.product(launch_id)
        found = product.sku(sku) if product is not None and sku else None
        name = found.name if found is not None else sku or (product.name if product else "")
        return f"{quantity} \u00d7 {name}" if quantity > 1 else name

    def title(self, launch_id: str) -> str:
        launch = self.facts.launch(launch_id)
        return launch.title if launch is not None else ""


Writer = Callable[[Context], Awaitable[Letter]]


@functools.lru_cache(maxsize=1024)
def _said(speaker: Speaker, moment: datetime, today: bool) -> str:
    """Babel takes about 0.2 ms to say a moment; a reminder to a crowd says the same few
    moments in the same few languages and zones over and over."""
    return speaker.time(moment) if today else speaker.moment(moment)
