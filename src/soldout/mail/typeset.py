"""From a written letter to the bytes of an e-mail: here, or in a process of its own.

Writing a letter (`compose.Composer.draft`) reads the sale as it is now, so it runs in the
server, beside the engine. What follows needs nothing of the server: the two Jinja2
templates laid out in the fan's language, the MIME message around them. That is most of
an e-mail's cost (an order confirmation: ~0.35 ms of templates and ~0.1 ms of MIME against
~0.13 ms to write the letter, measured in a sale on the reference machine) and, in one
process, it is taken from the sale's event loop: each confirmation slowed the payments
it confirmed.

A `Draft` is everything the layout needs, and pickles small. A `Typesetter` lays out a
page of drafts at a time:

- `LocalTypesetter` in the calling process (tests, tools, `SOLDOUT_MAIL_PROCESSES=0`);
- `ProcessTypesetter` in worker processes started when the first page comes, so the
  event loop only waits for the answer. A worker that dies (killed, out of memory) loses
  nothing: its page is laid out here instead and a new worker is started for the next.
  A worker whose server died (a crash never shuts the pool down) ends itself within a
  second.

Both answer, for each draft in order, its `Envelope` or the reason it could not be laid
out (a bug or bad data: the outbox records that message `failed`, not the page).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import logging
import multiprocessing
import os
import textwrap
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from soldout import i18n
from soldout.domain.shop import Shop
from soldout.i18n import Speaker, speaking
from soldout.mail import mime
from soldout.mail.letter import Letter
from soldout.mail.transport import Envelope

__all__ = [
    "Draft",
    "LocalTypesetter",
    "ProcessTypesetter",
    "Typesetter",
    "environment",
    "typeset",
    "wrap",
]

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
_NAME = "\x00name\x00"  # where the fan's name goes in a rendered letter
PARENT_CHECK = 1.0  # seconds between a worker's looks at whether its server still runs

Laid = Envelope | str  # an e-mail, or why it could not be laid out


@dataclass(frozen=True, slots=True)
class Draft:
    """One message, written and addressed, not yet laid out."""

    notification_id: str
    kind: str
    letter: Letter
    shop: Shop
    speaker: Speaker
    account_url: str
    name: str  # the fan's, as they wrote it
    to: str
    sender_name: str  # the From's display name ('' for the shop's name)
    sender_address: str
    written_at: datetime  # the Date header


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


class _Press:
    """The templates, loaded once per process."""

    def __init__(self) -> None:
        env = environment()
        self.html: Template = env.get_template("letter.html")
        self.text: Template = env.get_template("letter.txt")

    @functools.lru_cache(maxsize=512)  # noqa: B019 (one press per process, for its life)
    def render(self, letter: Letter, shop: Shop, lang: str, account_url: str) -> tuple[str, str]:
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
        return self.html.render(values), self.text.render(values)


@functools.cache
def _press() -> _Press:
    return _Press()


def typeset(draft: Draft) -> Envelope:
    """The message's bytes: both bodies in the fan's language, the headers, MIME; a
    `Reply-To` of the shop's contact address when it has one. The Message-ID is the
    notification's own id, so every try of one notification carries the same one
    (docs/email.md, "once")."""
    speaker = draft.speaker
    with speaking(speaker):
        html, text = _press().render(draft.letter, draft.shop, speaker.html_lang, draft.account_url)
    html = html.replace(_NAME, escape(draft.name))
    text = text.replace(_NAME, draft.name)
    domain = draft.sender_address.rpartition("@")[2] or "soldout"
    message_id = f"<{draft.notification_id}@{domain}>"
    headers = [
        mime.address("From", draft.sender_name or draft.shop.name, draft.sender_address),
        mime.address("To", draft.name, draft.to),
        mime.unstructured("Subject", draft.letter.subject),
        f"Date: {email.utils.format_datetime(draft.written_at)}",
        f"Message-ID: {message_id}",
        f"Content-Language: {speaker.html_lang}",
        "Auto-Submitted: auto-generated",  # RFC 3834: no vacation replies to it
        mime.unstructured("X-Soldout-Kind", draft.kind),
    ]
    if draft.shop.contact_email:  # a fan's reply reaches the maker, not the sender's box
        headers.insert(2, mime.address("Reply-To", draft.shop.name, draft.shop.contact_email))
    data = mime.multipart(headers, text, html)
    return Envelope(draft.notification_id, draft.sender_address, draft.to, data, message_id)


def typeset_page(drafts: Sequence[Draft]) -> list[Laid]:
    """Each draft laid out, or why not: one bad draft does not lose the page."""
    laid: list[Laid] = []
    for draft in drafts:
        try:
            laid.append(typeset(draft))
        except Exception as error:  # a bug or bad data in this one message
            log.exception("cannot lay out e-mail %s", draft.notification_id)
            laid.append(repr(error))
    return laid


def _outlive_no_parent(parent: int) -> None:
    """In each worker: end it once the server that started it is gone. A server killed
    (SIGKILL, out of memory) never shuts its pool down, and a worker waiting for its next
    page would wait for ever (it holds its own end of the queue's pipe, so it never reads
    an end of file): a process of ~60 MB left behind by every crash."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK)
        os._exit(0)

    threading.Thread(target=watch, name="soldout-parent-watch", daemon=True).start()


class Typesetter(Protocol):
    async def typeset(self, drafts: Sequence[Draft]) -> list[Laid]: ...
    async def close(self) -> None: ...


class LocalTypesetter:
    """In the calling process, on its event loop."""

    async def typeset(self, drafts: Sequence[Draft]) -> list[Laid]:
        return typeset_page(drafts)

    async def close(self) -> None:
        return None


class ProcessTypesetter:
    """In `processes` worker processes (spawned: the server's threads are not copied),
    started with the first page. A page goes to the workers in slices of `SLICE`, so
    that several share a large one."""

    SLICE = 50

    def __init__(self, processes: int = 1) -> None:
        if processes < 1:
            raise ValueError("a ProcessTypesetter needs at least one process")
        self._processes = processes
        self._pool: Executor | None = None
        self.restarts = 0  # workers found dead and replaced

    def _executor(self) -> Executor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self._processes,
                mp_context=context,
                initializer=_outlive_no_parent,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def typeset(self, drafts: Sequence[Draft]) -> list[Laid]:
        if not drafts:
            return []
        loop = asyncio.get_running_loop()
        pool = self._executor()
        slices = [drafts[i : i + self.SLICE] for i in range(0, len(drafts), self.SLICE)]
        try:
            pages = await asyncio.gather(
                *(loop.run_in_executor(pool, typeset_page, part) for part in slices)
            )
        except BrokenProcessPool:
            log.warning("an e-mail worker process died; this page is laid out here instead")
            self._discard(pool)
            return typeset_page(drafts)
        return [laid for page in pages for laid in page]

    def _discard(self, pool: Executor) -> None:
        if self._pool is pool:
            self._pool = None
            self.restarts += 1
        pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
