"""A real SMTP server for tests: aiosmtpd on a loopback port, in a thread of the test
process, keeping every message it accepts so a test can read what a fan received."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support import free_port


@dataclass(frozen=True, slots=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def bodies(self) -> tuple[str, str]:
        """(plain text, HTML) as the fan's mail program shows them."""
        text = self.message.get_body(("plain",))
        html = self.message.get_body(("html",))
        assert text is not None
        assert html is not None
        return text.get_content(), html.get_content()

    def link(self, path_prefix: str) -> str:
        """The one link to `path_prefix` in the plain text (also checked in the HTML)."""
        text, html = self.bodies()
        found = set(re.findall(r"https?://\S+" + re.escape(path_prefix) + r"\S*", text))
        assert len(found) == 1, (path_prefix, found, text)
        link = found.pop()
        assert f'href="{link}"' in html
        return link


class _Keeper:
    def __init__(self, box: Mailbox) -> None:
        self._box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._box.accept(
            Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 Message accepted for delivery"


class Mailbox:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(_Keeper(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def accept(self, received: Received) -> None:
        with self._arrived:
            self.received.append(received)
            self._arrived.notify_all()

    def wait_for(self, recipient: str, count: int = 1, timeout: float = 30.0) -> list[Received]:
        """Block until `recipient` has `count` messages (the condition, not a sleep)."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.to(recipient)) >= count, timeout)
            assert arrived, f"{recipient} got {len(self.to(recipient))} of {count} messages"
            return self.to(recipient)

    def to(self, recipient: str) -> list[Received]:
        return [r for r in self.received if recipient in r.recipients]
