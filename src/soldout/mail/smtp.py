"""The SMTP adapter of the mail port, on aiosmtplib.

A connection says EHLO, upgrades with STARTTLS (always with `Tls.REQUIRED`, when offered
with `Tls.OPPORTUNISTIC`) or starts in TLS (`smtps://`), logs in when the URL carries a
user, then carries up to `MESSAGES_PER_SESSION` messages. Each message is sent as MAIL,
RCPT, DATA separately rather than through `sendmail`, so that a failure is known by the
step it happened at: before DATA nothing was offered (the session is the problem, not
the message); during DATA the relay may have taken it.
"""

from __future__ import annotations

import logging
import ssl

import aiosmtplib
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
    SMTPSenderRefused,
)

from soldout.mail.config import SmtpConfig, Tls
from soldout.mail.transport import Connection, Deferred, Envelope, Refused, Unreachable

__all__ = ["MESSAGES_PER_SESSION", "SmtpTransport"]

log = logging.getLogger(__name__)

# Relays limit messages per session (Exchange and many hosted relays near 100); a new
# session every 100 messages costs about 1 % more round trips.
MESSAGES_PER_SESSION = 100


class SmtpTransport:
    def __init__(self, config: SmtpConfig, *, tls_context: ssl.SSLContext | None = None) -> None:
        self._config = config
        self._tls_context = tls_context  # tests pass one that trusts their own certificate

    @property
    def description(self) -> str:
        return self._config.redacted

    async def open(self) -> Connection:
        c = self._config
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            timeout=c.timeout,
            use_tls=c.tls is Tls.IMPLICIT,
            start_tls={Tls.REQUIRED: True, Tls.OPPORTUNISTIC: None}.get(c.tls, False),
            tls_context=self._tls_context,
        )
        try:
            await smtp.connect()
        except SMTPAuthenticationError as refused:
            smtp.close()
            raise Unreachable(f"login refused: {refused.message}", refused.code) from None
        except SMTPResponseException as refused:
            smtp.close()
            raise Unreachable(f"session refused: {refused.message}", refused.code) from None
        except (SMTPException, OSError, TimeoutError) as down:
            smtp.close()
            raise Unreachable(f"cannot connect: {_text(down)}") from None
        return _SmtpConnection(smtp)


class _SmtpConnection:
    def __init__(self, smtp: aiosmtplib.SMTP) -> None:
        self._smtp = smtp
        self._sent = 0

    async def send(self, envelope: Envelope) -> None:
        smtp = self._smtp
        if self._sent >= MESSAGES_PER_SESSION or not smtp.is_connected:
            raise Unreachable("session used up")  # the outbox opens a new one
        options, encoding = [], "ascii"
        if not (envelope.recipient.isascii() and envelope.sender.isascii()):
            if not smtp.supports_extension("smtputf8"):
                raise Refused("the relay does not take non-ASCII addresses (no SMTPUTF8)")
            options, encoding = ["SMTPUTF8"], "utf-8"
        try:
            await smtp.mail(envelope.sender, options=options, encoding=encoding)
        except SMTPSenderRefused as refused:
            await self._reset()
            # Our sender, not this message: every message would meet the same answer.
            raise Unreachable(f"sender refused: {refused.message}", refused.code) from None
        except (SMTPException, OSError, TimeoutError) as lost:
            raise Unreachable(f"session lost before the message: {_text(lost)}") from None
        try:
            await smtp.rcpt(envelope.recipient, encoding=encoding)
        except SMTPRecipientRefused as refused:
            await self._reset()
            raise _answer(refused) from None
        except (SMTPException, OSError, TimeoutError) as lost:
            raise Unreachable(f"session lost before the message: {_text(lost)}") from None
        self._sent += 1
        try:
            await smtp.data(envelope.data)
        except SMTPResponseException as refused:
            await self._reset()
            raise _answer(refused) from None
        except (SMTPException, OSError, TimeoutError) as lost:
            # The relay may have stored it and its 250 been lost: a duplicate is possible
            # when this is retried, and recognisable by its Message-ID.
            raise Deferred(f"connection lost during the message: {_text(lost)}") from None

    async def _reset(self) -> None:
        try:
            await self._smtp.rset()
        except (SMTPException, OSError, TimeoutError):
            self._smtp.close()

    async def close(self) -> None:
        if self._smtp.is_connected:
            try:
                await self._smtp.quit()
            except (SMTPException, OSError, TimeoutError):
                self._smtp.close()


def _answer(refused: SMTPResponseException) -> Deferred | Refused:
    """5xx is for good (no such mailbox, message refused); anything else, try later."""
    if 500 <= refused.code < 600:
        return Refused(refused.message, refused.code)
    return Deferred(refused.message, refused.code)


def _text(error: BaseException) -> str:
    return str(error) or type(error).__name__
