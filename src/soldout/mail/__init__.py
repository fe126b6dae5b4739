"""E-mail: the notifications outbox sent over SMTP, in the fan's language.

    mail = MailSettings(SmtpTransport(SmtpConfig.from_url(url)), sender, base_url)
    outbox = mail.outbox(store, engine, clock)
    outbox.start()           # runs in the background, woken by new notifications
    ...
    await outbox.stop()

`transport.py` is the port (with an in-memory fake), `smtp.py` and `pickup.py` its
adapters, `config.py` reads `SOLDOUT_SMTP_URL`, `compose.py` writes a message from a
notification (`letter.py`, `sale_letters.py`, `order_letters.py`, `templates/`),
`typeset.py` lays a written letter out as MIME (here, or in worker processes),
`retry.py` is the backoff, `outbox.py` the dispatcher. See docs/email.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from urllib.parse import urlsplit

from soldout.clock import Clock
from soldout.engine import SaleEngine
from soldout.mail.compose import Composer, sender_address
from soldout.mail.config import SmtpConfig
from soldout.mail.facts import EngineFacts
from soldout.mail.outbox import Outbox
from soldout.mail.pickup import PickupDirectory
from soldout.mail.retry import RetryPolicy
from soldout.mail.smtp import SmtpTransport
from soldout.mail.transport import MemoryTransport, Transport
from soldout.mail.typeset import ProcessTypesetter
from soldout.settings import Settings
from soldout.store.ports import Store

__all__ = ["MailSettings", "MemoryTransport", "Outbox", "sender_address"]


@dataclass(frozen=True, slots=True)
class MailSettings:
    """What the platform needs to send e-mail (`api/server.py` makes it from `Settings`)."""

    transport: Transport
    sender: Address
    base_url: str  # absolute links in e-mails start with it
    connections: int = 4
    attempts: int = 8
    opening_lead: timedelta = timedelta(minutes=10)  # "the sale opens in 10 minutes"
    claim_lead: timedelta = timedelta(minutes=5)  # "your claim expires in 5 minutes"
    processes: int = 0  # worker processes laying e-mails out; 0: on the caller's loop

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings:
        """SMTP if `SOLDOUT_SMTP_URL` is set, else .eml files in DATA/mail/. Raise
        ValueError naming what is wrong (never the password)."""
        base_url = settings.base_url
        sender = sender_address(settings.mail_from, urlsplit(base_url).hostname or "")
        transport: Transport
        if settings.smtp_url is not None:
            url = settings.smtp_url.get_secret_value()
            transport = SmtpTransport(SmtpConfig.from_url(url, timeout=settings.smtp_timeout))
        else:
            transport = PickupDirectory(settings.data / "mail")
        return cls(
            transport,
            sender,
            base_url,
            connections=settings.smtp_connections,
            attempts=settings.mail_attempts,
            opening_lead=timedelta(minutes=settings.reminder_minutes),
            claim_lead=timedelta(minutes=settings.claim_reminder_minutes),
            processes=settings.mail_processes,
        )

    def outbox(
        self,
        store: Store,
        engine: SaleEngine,
        clock: Clock,
        reachable: Callable[[str], bool] = lambda fan_id: True,
    ) -> Outbox:
        composer = Composer(
            sender=self.sender,
            base_url=self.base_url,
            facts=EngineFacts(engine),
            reminder_minutes=int(self.opening_lead.total_seconds() // 60),
        )
        return Outbox(
            store.notifications,
            store.shop,
            self.transport,
            composer,
            clock,
            connections=self.connections,
            retry=RetryPolicy(attempts=self.attempts),
            reachable=reachable,
            typesetter=ProcessTypesetter(self.processes) if self.processes else None,
        )
