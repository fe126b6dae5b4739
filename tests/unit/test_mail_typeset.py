"""Laying e-mails out in worker processes: the same messages as laid out in the server,
none lost when a worker is killed, a bad one failing alone, and the outbox sending
what the workers laid out."""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import subprocess
import sys
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import pytest

from soldout.clock import FakeClock
from soldout.domain.notifications import Notification
from soldout.domain.shop import Shop
from soldout.ids import new_id
from soldout.mail.compose import Composer
from soldout.mail.facts import EngineFacts
from soldout.mail.outbox import Outbox
from soldout.mail.retry import RetryPolicy
from soldout.mail.transport import Envelope, MemoryTransport
from soldout.mail.typeset import Draft, LocalTypesetter, ProcessTypesetter
from soldout.services import Platform
from soldout.store.ports import OutgoingEmail
from tests.unit.test_mail_compose import SHOP, WINTER, Scene, make_scene

LOCALES = (("en", "Europe/London"), ("nl", "Europe/Amsterdam"), ("zh_Hans", "Asia/Shanghai"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WINTER)


@pytest.fixture
async def scene(platform: Platform, clock: FakeClock) -> Scene:
    return await make_scene(platform, clock)


async def drafts_of(scene: Scene, shop: Shop = SHOP) -> list[Draft]:
    """Every kind of letter, in each language."""
    now = scene.platform.clock.now()
    return [
        await scene.composer.draft(
            OutgoingEmail(note, "ann@fans.test", "Ann <Fan> Ünal", locale, zone, 0), shop, now
        )
        for note in scene.notes.values()
        for locale, zone in LOCALES
    ]


def readable(envelope: Envelope | str) -> tuple[list[tuple[str, str]], str, str]:
    """What a reader sees: the headers (the MIME boundary aside) and both bodies."""
    assert isinstance(envelope, Envelope), envelope
    message = envelope.parsed()
    assert isinstance(message, EmailMessage)
    headers = [(k, str(v)) for k, v in message.items() if k != "Content-Type"]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    return headers, text.get_content(), html.get_content()


def worker_pids(typesetter: ProcessTypesetter) -> list[int]:
    pool = typesetter._pool
    assert pool is not None
    return list(pool._processes)  # type: ignore[attr-defined]


async def test_a_worker_process_lays_out_each_letter_as_the_server_would(scene: Scene) -> None:
    drafts = await drafts_of(scene)
    assert len(drafts) > 30  # every kind, three languages
    here = await LocalTypesetter().typeset(drafts)
    workers = ProcessTypesetter(2)
    try:
        there = await workers.typeset(drafts)
        assert {os.getpid()}.isdisjoint(worker_pids(workers))  # laid out elsewhere
    finally:
        await workers.close()
    assert [readable(e) for e in there] == [readable(e) for e in here]
    assert [e.notification_id for e in there if isinstance(e, Envelope)] == [
        d.notification_id for d in drafts
    ]


async def test_a_killed_worker_loses_no_message(scene: Scene) -> None:
    drafts = await drafts_of(scene)
    workers = ProcessTypesetter(1)
    try:
        assert all(isinstance(e, Envelope) for e in await workers.typeset(drafts[:3]))
        (first,) = worker_pids(workers)
        os.kill(first, signal.SIGKILL)

        page = await workers.typeset(drafts)
        assert [readable(e) for e in page] == [
            readable(e) for e in await LocalTypesetter().typeset(drafts)
        ]
        assert workers.restarts == 1
        again = await workers.typeset(drafts[:2])  # a new worker for the next page
        assert all(isinstance(e, Envelope) for e in again)
        assert first not in worker_pids(workers)
    finally:
        await workers.close()


async def test_a_letter_that_cannot_be_laid_out_fails_alone(scene: Scene) -> None:
    good = await drafts_of(scene)
    broken = dataclasses.replace(good[1], to=None)  # type: ignore[arg-type]
    page = [good[0], broken, good[2]]
    for typesetter in (LocalTypesetter(), ProcessTypesetter(1)):
        try:
            laid = await typesetter.typeset(page)
        finally:
            await typesetter.close()
        assert isinstance(laid[0], Envelope)
        assert isinstance(laid[2], Envelope)
        assert isinstance(laid[1], str)
        assert "Error" in laid[1]


async def test_the_outbox_sends_what_worker_processes_laid_out(platform: Platform) -> None:
    relay = MemoryTransport()
    notes: list[Notification] = []
    for i, (locale, zone) in enumerate(LOCALES * 10):
        fan, _ = await platform.fans.register(f"fan{i}@fans.test", f"Fan {i}")
        await platform.fans.set_language(fan.id, locale, zone)
        notes.append(
            Notification(new_id("ntf"), fan.id, "hello", f"hello {i}", platform.clock.now())
        )
    await platform.store.notifications.add_many(notes)
    outbox = Outbox(
        platform.store.notifications,
        platform.store.shop,
        relay,
        Composer(
            sender=Address("Shop", addr_spec="shop@shop.test"),
            base_url="https://shop.test",
            facts=EngineFacts(platform.engine),
        ),
        platform.clock,
        retry=RetryPolicy(attempts=2),
        batch=7,  # pages of 7, each laid out by the worker
        typesetter=ProcessTypesetter(1),
    )
    try:
        tally = await outbox.send_due()
    finally:
        await outbox.stop()
    assert (tally.sent, tally.failed) == (30, 0)
    assert {e.notification_id: e.recipient for e in relay.sent} == {
        n.id: f"fan{i}@fans.test" for i, n in enumerate(notes)
    }
    for envelope in relay.sent:
        message = envelope.parsed()
        assert message["Message-ID"] == f"<{envelope.notification_id}@shop.test>"
        assert message["From"] == "Shop <shop@shop.test>"


@pytest.mark.parametrize("processes", [0, -1])
def test_a_process_typesetter_needs_a_process(processes: int) -> None:
    with pytest.raises(ValueError, match="at least one process"):
        ProcessTypesetter(processes)


KILLED_SERVER = """
import asyncio, os, signal, sys
from tests.unit.test_mail_typeset import one_page_in_a_worker
print(asyncio.run(one_page_in_a_worker()), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # a crash: the pool is never shut down
"""


async def one_page_in_a_worker() -> int:
    """(In a child process.) A worker lays out a page; its pid."""
    workers = ProcessTypesetter(1)
    clock = FakeClock(WINTER)
    from soldout.services.tokens import TokenSigner
    from soldout.store.memory import InMemoryStore

    platform = Platform(InMemoryStore(), TokenSigner(b"k" * 32, "adm"), clock)
    await platform.start(sweep=False)
    drafts = await drafts_of(await make_scene(platform, clock))
    assert all(isinstance(e, Envelope) for e in await workers.typeset(drafts[:2]))
    (pid,) = worker_pids(workers)
    return pid


def test_a_worker_ends_itself_when_its_server_is_killed() -> None:
    """A server SIGKILLed with its e-mail worker running leaves no process behind."""
    server = subprocess.run(
        [sys.executable, "-c", KILLED_SERVER],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert server.returncode == -signal.SIGKILL, server.stderr
    worker = int(server.stdout.split()[-1])
    assert ended_within(worker, 10), f"worker {worker} outlived its server"


def ended_within(pid: int, seconds: float) -> bool:
    """Whether the process (not our child: the killed server's) ends within `seconds`,
    woken by its end (a pidfd turns readable then), not by polling."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # already gone
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
        return bool(readable)
    finally:
        os.close(fd)
