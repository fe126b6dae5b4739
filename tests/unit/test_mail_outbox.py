"""The outbox dispatcher on the in-memory store, a fake clock and a fake relay: each
message goes once, a deferred one is retried with growing waits and given up after the
last try, a refused one fails at once, an unreachable relay costs no message a try, and
fans of a rehearsal or who erased their data are never mailed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from email.headerregistry import Address
from typing import Any

import pytest

from soldout.clock import FakeClock
from soldout.domain.notifications import Notification
from soldout.ids import new_id
from soldout.mail.compose import Composer
from soldout.mail.facts import EngineFacts
from soldout.mail.outbox import Outbox
from soldout.mail.retry import RetryPolicy
from soldout.mail.transport import Deferred, Envelope, MemoryTransport, Refused, Unreachable
from soldout.services import Platform
from soldout.store.memory import InMemoryStore
from tests.unit.test_mail_reminders import launch

RETRY = RetryPolicy(attempts=4, first=timedelta(minutes=1), random=lambda: 0.5)


@pytest.fixture
def relay() -> MemoryTransport:
    return MemoryTransport()


def make_outbox(platform: Platform, relay: MemoryTransport, **options: Any) -> Outbox:
    composer = Composer(
        sender=Address("Shop", addr_spec="shop@shop.test"),
        base_url="https://shop.test",
        facts=EngineFacts(platform.engine),
    )
    return Outbox(
        platform.store.notifications,
        platform.store.shop,
        relay,
        composer,
        platform.clock,
        connections=4,
        retry=RETRY,
        **options,
    )


@pytest.fixture
async def outbox(platform: Platform, relay: MemoryTransport) -> AsyncIterator[Outbox]:
    # pages smaller than some tests' crowds: they are read one after another
    box = make_outbox(platform, relay, batch=7)
    yield box
    await box.stop()


async def fan(platform: Platform, name: str = "ann", **extra: object) -> str:
    registered, _ = await platform.fans.register(f"{name}@fans.test", name, **extra)  # type: ignore[arg-type]
    return registered.id


async def tell(platform: Platform, fan_id: str, kind: str = "hello", **data: object) -> str:
    note = Notification(new_id("ntf"), fan_id, kind, f"hello {fan_id}", platform.clock.now(), data)
    await platform.store.notifications.add_many([note])
    return note.id


def state(platform: Platform, note_id: str) -> tuple[str, int]:
    store = platform.store
    assert isinstance(store, InMemoryStore)
    outcome = store.notifications.email[note_id]
    return outcome.state, outcome.attempts


async def test_a_notification_is_mailed_once(
    platform: Platform, outbox: Outbox, relay: MemoryTransport
) -> None:
    note = await tell(platform, await fan(platform))
    first = await outbox.send_due()
    again = await outbox.send_due()
    assert (first.sent, again.sent) == (1, 0)
    assert [e.recipient for e in relay.sent] == ["ann@fans.test"]
    assert state(platform, note) == ("sent", 1)
    message = relay.sent[0].parsed()
    assert message["Message-ID"] == f"<{note}@shop.test>"
    assert message["From"] == "Shop <shop@shop.test>"


async def test_a_crowd_shares_a_few_reused_connections(
    platform: Platform, outbox: Outbox, relay: MemoryTransport
) -> None:
    fans = [await fan(platform, f"fan{i}") for i in range(30)]
    for fan_id in fans:
        await tell(platform, fan_id)
    tally = await outbox.send_due()
    assert tally.sent == 30
    assert sorted(e.recipient for e in relay.sent) == sorted(f"fan{i}@fans.test" for i in range(30))
    assert relay.opened <= 4  # every page reused the sessions of the page before
    assert relay.closed == relay.opened  # and the pass closed them when done


async def test_a_deferred_message_is_retried_later_and_later_then_given_up(
    platform: Platform, clock: FakeClock, outbox: Outbox, relay: MemoryTransport
) -> None:
    note = await tell(platform, await fan(platform))
    relay.fail("ann@fans.test", *(Deferred("mailbox busy", 451) for _ in range(4)))
    waits = []
    for attempt in range(1, 4):
        assert (await outbox.send_due()).deferred == 1
        assert state(platform, note) == ("pending", attempt)
        due = await platform.store.notifications.next_email_at()
        assert due is not None
        waits.append((due - clock.now()).total_seconds())
        assert (await outbox.send_due()).deferred == 0  # not before its time
        clock.set(due)
    # with the jitter fixed at 0.5: 3/4 of 1, 2 and 4 minutes
    assert waits == [45.0, 90.0, 180.0]
    assert (await outbox.send_due()).failed == 1
    assert state(platform, note) == ("failed", 4)
    clock.advance(3600)
    assert (await outbox.send_due()).failed == 0
    assert len(relay.tries) == 4
    assert relay.sent == []


async def test_a_message_deferred_once_then_accepted_keeps_its_message_id(
    platform: Platform, clock: FakeClock, outbox: Outbox, relay: MemoryTransport
) -> None:
    note = await tell(platform, await fan(platform))
    relay.fail("ann@fans.test", Deferred("connection lost during the message"))
    await outbox.send_due()
    clock.advance(120)
    await outbox.send_due()
    ids = {e.parsed()["Message-ID"] for e in relay.tries}
    assert ids == {f"<{note}@shop.test>"}  # a relay that got both sees one message
    assert state(platform, note) == ("sent", 2)


async def test_a_permanent_refusal_fails_at_once(
    platform: Platform, clock: FakeClock, outbox: Outbox, relay: MemoryTransport
) -> None:
    refused = await tell(platform, await fan(platform, "gone"))
    fine = await tell(platform, await fan(platform, "here"))
    relay.fail("gone@fans.test", Refused("no such mailbox", 550))
    tally = await outbox.send_due()
    assert (tally.failed, tally.sent) == (1, 1)
    assert state(platform, refused) == ("failed", 1)
    assert state(platform, fine) == ("sent", 1)
    clock.advance(86_400)
    assert (await outbox.send_due()).sent == 0
    assert [e.recipient for e in relay.tries].count("gone@fans.test") == 1


async def test_an_unreachable_relay_costs_no_message_a_try(
    platform: Platform, outbox: Outbox, relay: MemoryTransport
) -> None:
    notes = [await tell(platform, await fan(platform, f"f{i}")) for i in range(3)]
    relay.down = True
    tally = await outbox.send_due()
    assert tally.unreachable == "connection refused"
    assert [state(platform, n) for n in notes] == [("pending", 0)] * 3
    relay.down = False
    assert (await outbox.send_due()).sent == 3
    assert [state(platform, n) for n in notes] == [("sent", 1)] * 3
    assert len(relay.tries) == 3


async def test_a_session_found_dead_is_replaced_without_charging_the_message(
    platform: Platform, outbox: Outbox, relay: MemoryTransport
) -> None:
    for i in range(2):
        await tell(platform, await fan(platform, f"f{i}"))
    await outbox.send_due()  # leaves no session open: the pass closed them
    dead = 0

    class Stale:
        async def send(self, envelope: Envelope) -> None:
            nonlocal dead
            dead += 1
            raise Unreachable("session lost before the message")

        async def close(self) -> None:
            return None

    note = await tell(platform, await fan(platform, "late"))
    outbox._idle.append(Stale())  # a session the relay closed while it was idle
    assert (await outbox.send_due()).sent == 1
    assert dead == 1
    assert state(platform, note) == ("sent", 1)


async def test_rehearsal_fans_and_erased_fans_are_never_mailed(
    platform: Platform, outbox: Outbox, relay: MemoryTransport
) -> None:
    made_up = await fan(platform, "bot", rehearsal="run_1")
    erased = await fan(platform, "leaver")
    real = await fan(platform, "real")
    await tell(platform, made_up)
    pending = await tell(platform, erased)
    await platform.fans.erase(erased)
    await tell(platform, erased)  # told after erasure (a refund of a kept order, say)
    await tell(platform, real)
    assert (await outbox.send_due()).sent == 1
    assert [e.recipient for e in relay.sent] == ["real@fans.test"]
    counts = await platform.store.notifications.email_counts()
    assert counts == {"sent": 1, "none": 2}  # the one written before erasure is gone
    assert pending not in platform.store.notifications.email  # type: ignore[attr-defined]


async def test_a_message_that_is_no_longer_true_is_dropped(
    platform: Platform, clock: FakeClock, outbox: Outbox, relay: MemoryTransport
) -> None:
    expires = clock.now() + timedelta(minutes=15)
    note = await tell(
        platform,
        await fan(platform),
        "sign_in_link",
        path="/signin/x",
        expires_at=expires.isoformat(),
    )
    relay.down = True
    await outbox.send_due()
    clock.set(expires)  # the relay came back too late for this link
    relay.down = False
    tally = await outbox.send_due()
    assert (tally.dropped, tally.sent) == (1, 0)
    assert state(platform, note) == ("dropped", 0)
    assert relay.tries == []


async def test_the_running_outbox_is_woken_by_a_new_notification(
    platform: Platform, outbox: Outbox, relay: MemoryTransport
) -> None:
    outbox.start()
    await tell(platform, await fan(platform, "first"))
    async with asyncio.timeout(5):
        await relay.wait_for(1)
        await outbox.idle.wait()  # nothing else is due: asleep for a minute, or the bell
    await tell(platform, await fan(platform, "second"))
    async with asyncio.timeout(5):
        sent = await relay.wait_for(2)
    assert [e.recipient for e in sent] == ["first@fans.test", "second@fans.test"]


def test_the_backoff_grows_with_jitter_up_to_its_cap() -> None:
    low = RetryPolicy(attempts=20, random=lambda: 0.0)
    high = RetryPolicy(attempts=20, random=lambda: 0.999999)
    for attempts, minutes in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (19, 60)]:
        assert low.delay(attempts) == timedelta(minutes=minutes) / 2
        assert (
            timedelta(minutes=minutes) * 0.99 < high.delay(attempts) <= timedelta(minutes=minutes)
        )
    now = FakeClock().now()
    assert low.next_try(19, now) is not None
    assert low.next_try(20, now) is None
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


async def test_a_fan_erased_after_their_page_was_read_is_not_mailed(
    platform: Platform, relay: MemoryTransport
) -> None:
    """The page was read before the erasure landed: each message asks again just before
    it goes (the platform wires the token signer's revocations in)."""
    box = make_outbox(platform, relay, reachable=lambda fan_id: not platform.tokens.revoked(fan_id))
    ann, bob = await fan(platform, "ann"), await fan(platform, "bob")
    kept, gone = await tell(platform, ann), await tell(platform, bob)
    platform.tokens.revoke(bob)  # what an erasure does, in the moment after the page's read
    tally = await box.send_due()
    await box.stop()
    assert (tally.sent, tally.dropped) == (1, 1)
    assert [e.recipient for e in relay.sent] == ["ann@fans.test"]
    assert (state(platform, kept), state(platform, gone)) == (("sent", 1), ("dropped", 0))


async def test_it_is_your_turn_is_not_sent_to_a_fan_who_bought_in_the_meantime(
    platform: Platform, clock: FakeClock, outbox: Outbox, relay: MemoryTransport
) -> None:
    """The room writes "it is your turn" in the poll that admits a fan; the outbox writes
    the e-mail seconds or minutes later, when the fan, on the page, may have claimed a
    unit already or paid for it: "buy before 21:26" would reach them after the fact."""
    book = await launch(
        platform, timedelta(seconds=30), waiting_room_rate=1.0, waiting_room_burst=3
    )
    holding, paid, waiting = [await fan(platform, name) for name in ("ann", "bob", "cem")]
    for fan_id in (holding, paid, waiting):
        await platform.gate.join(book, fan_id)
    clock.advance(30)
    views = [platform.gate.view(book, f).state for f in (holding, paid, waiting)]
    assert views == ["admitted"] * 3
    await asyncio.sleep(0)  # the notices' write, queued in the poll (one turn of the loop)
    lid = book.launch.id
    await platform.engine.claim(holding, lid, "A", 1, "k-ann")
    bought = (await platform.engine.claim(paid, lid, "A", 1, "k-bob")).claim
    assert (await platform.engine.pay(paid, bought.id, "test", "tok_ok", "pay-bob")).order
    tally = await outbox.send_due()
    turns = [e.recipient for e in relay.sent if "your turn" in str(e.parsed()["Subject"])]
    assert turns == ["cem@fans.test"]
    assert tally.dropped == 2
