"""The SMTP adapter against a real SMTP server (aiosmtpd on loopback): many messages on
one session, each failure told by the step it happened at (a refused recipient fails for
good and leaves the session usable, a 4xx defers, a closed port or a refused login makes
the relay unreachable), and the login sent to a relay on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from soldout.mail.config import SmtpConfig
from soldout.mail.smtp import MESSAGES_PER_SESSION, SmtpTransport
from soldout.mail.transport import Connection, Deferred, Envelope, Refused, Unreachable
from tests.mailbox import Mailbox, Received
from tests.support import free_port


class Picky:
    """Takes mail, except for two addresses: one that does not exist (550), one whose
    mailbox is busy (451)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.sessions: set[int] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy@"):
            return "451 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sessions.add(id(session))
        self.received.append(
            Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 accepted"


@pytest.fixture
def picky() -> Iterator[tuple[Picky, int]]:
    handler, port = Picky(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
async def session(picky: tuple[Picky, int]) -> AsyncIterator[Connection]:
    transport = SmtpTransport(SmtpConfig.from_url(f"smtp://127.0.0.1:{picky[1]}", timeout=10))
    connection = await transport.open()
    yield connection
    await connection.close()


def envelope(to: str, n: int = 0) -> Envelope:
    data = (
        f"From: shop@shop.test\r\nTo: {to}\r\nSubject: n{n}\r\n"
        f"Message-ID: <ntf_{n}@shop.test>\r\n\r\nhello {n}\r\n"
    ).encode()
    return Envelope(f"ntf_{n}", "shop@shop.test", to, data, f"<ntf_{n}@shop.test>")


async def test_one_session_carries_many_messages(
    picky: tuple[Picky, int], session: Connection
) -> None:
    handler, _ = picky
    for n in range(5):
        await session.send(envelope(f"fan{n}@fans.test", n))
    assert [r.recipients for r in handler.received] == [(f"fan{n}@fans.test",) for n in range(5)]
    assert len(handler.sessions) == 1
    assert handler.received[3].message["Message-ID"] == "<ntf_3@shop.test>"


async def test_a_refused_recipient_fails_for_good_and_the_session_goes_on(
    picky: tuple[Picky, int], session: Connection
) -> None:
    handler, _ = picky
    with pytest.raises(Refused) as refused:
        await session.send(envelope("nobody@fans.test", 1))
    assert refused.value.code == 550
    with pytest.raises(Deferred) as deferred:
        await session.send(envelope("busy@fans.test", 2))
    assert deferred.value.code == 451
    await session.send(envelope("ann@fans.test", 3))  # the same session, reset
    assert [r.recipients for r in handler.received] == [("ann@fans.test",)]


async def test_a_session_is_used_up_after_its_share_of_messages(
    picky: tuple[Picky, int], session: Connection
) -> None:
    for n in range(MESSAGES_PER_SESSION):
        await session.send(envelope("ann@fans.test", n))
    with pytest.raises(Unreachable, match="used up"):
        await session.send(envelope("ann@fans.test", MESSAGES_PER_SESSION))


async def test_a_closed_port_is_unreachable() -> None:
    transport = SmtpTransport(SmtpConfig.from_url(f"smtp://127.0.0.1:{free_port()}", timeout=5))
    with pytest.raises(Unreachable, match="cannot connect"):
        await transport.open()


async def test_required_tls_that_the_relay_does_not_offer_is_unreachable() -> None:
    box = Mailbox()
    box.start()
    try:
        url = f"smtp://127.0.0.1:{box.port}?starttls=required"
        with pytest.raises(Unreachable):
            await SmtpTransport(SmtpConfig.from_url(url, timeout=5)).open()
        assert box.received == []
    finally:
        box.stop()


class Keys:
    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"shop",
            b"s3cr@t",
        )
        return AuthResult(success=ok, handled=False)  # a failure is answered 535


@pytest.mark.parametrize(("password", "works"), [("s3cr%40t", True), ("wrong", False)])
async def test_a_loopback_relay_gets_the_login(password: str, works: bool) -> None:
    port = free_port()
    controller = Controller(
        Picky(),
        hostname="127.0.0.1",
        port=port,
        authenticator=Keys(),
        auth_require_tls=False,  # loopback: soldout sends the password without TLS
    )
    controller.start()
    try:
        url = f"smtp://shop:{password}@127.0.0.1:{port}"
        transport = SmtpTransport(SmtpConfig.from_url(url, timeout=5))
        if works:
            connection = await transport.open()
            await connection.send(envelope("ann@fans.test"))
            await connection.close()
        else:
            with pytest.raises(Unreachable, match="login refused") as refused:
                await transport.open()
            assert "wrong" not in str(refused.value)
    finally:
        controller.stop()
