"""The one port e-mail leaves through, its three ways to fail, and an in-memory fake.

    connection = await transport.open()      # Unreachable: nothing was offered
    await connection.send(envelope)          # Deferred (try later) or Refused (never)
    await connection.close()

A connection carries many messages one after another (an SMTP session is reused: a new
TLS handshake and login per message would cost more than the message). The outbox opens
several at once. Adapters: `smtp.SmtpTransport` (aiosmtplib), `pickup.PickupDirectory`
(.eml files, when no relay is configured), and `MemoryTransport` here, for tests.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

__all__ = [
    "Connection",
    "Deferred",
    "DeliveryError",
    "Envelope",
    "MemoryTransport",
    "Refused",
    "Transport",
    "Unreachable",
]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message as it goes on the wire: SMTP's envelope and the bytes of the message."""

    notification_id: str
    sender: str
    recipient: str
    data: bytes = field(repr=False)
    message_id: str = ""

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


class DeliveryError(Exception):
    """Why a message did not go. `code` is the server's reply code, if it gave one."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return f"{self.code} {self.reason}" if self.code else self.reason


class Unreachable(DeliveryError):
    """No session: the relay is down, refused the login, or refused our sender. Nothing
    was offered, so no message is charged an attempt: the outbox waits and tries again."""


class Deferred(DeliveryError):
    """This message, this time: a 4xx reply, or the connection broke while it was being
    sent (then the relay may have it: see docs/email.md, "once"). Retried with backoff."""


class Refused(DeliveryError):
    """This message, for good: a 5xx reply to its recipient or its content."""


class Connection(Protocol):
    async def send(self, envelope: Envelope) -> None:
        """Return once the relay has accepted the message (SMTP 250 after the data)."""

    async def close(self) -> None: ...


class Transport(Protocol):
    @property
    def description(self) -> str:
        """Where mail goes, safe to log (no password)."""

    async def open(self) -> Connection: ...


Script = Callable[[Envelope], DeliveryError | None]


class MemoryTransport:
    """A relay in memory for tests: `sent` holds what it accepted, in order. `down` makes
    `open` fail; `fail(address, *errors)` makes the next sends to `address` fail with those
    errors in turn; `script` decides for every message."""

    description = "memory"

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self.tries: list[Envelope] = []  # every message offered, accepted or not
        self.down = False
        self.opened = 0
        self.closed = 0
        self.script: Script | None = None
        self._failures: dict[str, list[DeliveryError]] = {}
        self._arrived = asyncio.Condition()

    def fail(self, recipient: str, *errors: DeliveryError) -> None:
        self._failures.setdefault(recipient, []).extend(errors)

    async def open(self) -> Connection:
        if self.down:
            raise Unreachable("connection refused")
        self.opened += 1
        return _MemoryConnection(self)

    async def accept(self, envelope: Envelope) -> None:
        self.tries.append(envelope)
        queued = self._failures.get(envelope.recipient)
        error = queued.pop(0) if queued else self.script(envelope) if self.script else None
        if error is not None:
            raise error
        self.sent.append(envelope)
        async with self._arrived:
            self._arrived.notify_all()

    async def wait_for(self, count: int) -> list[Envelope]:
        """Wait until `count` messages have been accepted (the condition itself)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.sent) >= count)
        return self.sent

    def to(self, recipient: str) -> list[EmailMessage]:
        return [e.parsed() for e in self.sent if e.recipient == recipient]


class _MemoryConnection:
    def __init__(self, relay: MemoryTransport) -> None:
        self._relay = relay
        self.open = True

    async def send(self, envelope: Envelope) -> None:
        if self._relay.down:
            self.open = False
            raise Unreachable("connection lost before the message")
        await self._relay.accept(envelope)

    async def close(self) -> None:
        if self.open:
            self.open = False
            self._relay.closed += 1
