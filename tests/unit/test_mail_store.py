"""The e-mail outbox's store methods behave alike on both adapters (in memory and SQLite):
who enters the outbox, what is due and in which order, outcomes recorded only over a
pending message, the doorbell after a durable write, and reminders' progress written
with their notifications."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soldout.domain.fans import Fan
from soldout.domain.notifications import Notification
from soldout.store.memory import InMemoryStore
from soldout.store.ports import EmailOutcome, Store
from soldout.store.sqlite import SqliteStore

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    made: Store = InMemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    await made.open()
    for fan in (
        Fan(
            "fan_ann",
            "ann@fans.test",
            "Ann",
            "R1",
            None,
            T0,
            locale="nl",
            time_zone="Europe/Amsterdam",
        ),
        Fan("fan_bob", "bob@fans.test", "Bob", "R2", None, T0),
        Fan("fan_bot", "bot@fans.test", "Bot", "R3", None, T0, rehearsal="run_1"),
        Fan("fan_eve", "eve@fans.test", "Eve", "R4", None, T0),
    ):
        await made.fans.add(fan)
    yield made
    await made.close()


def note(note_id: str, fan_id: str, at: datetime = T0, *, email: bool = True) -> Notification:
    return Notification(note_id, fan_id, "hello", "hi", at, {"n": note_id}, email)


async def test_who_enters_the_outbox(store: Store) -> None:
    await store.fans.erase("fan_eve", T0)
    await store.notifications.add_many(
        [
            note("n1", "fan_ann"),
            note("n2", "fan_bot"),  # a rehearsal's fan
            note("n3", "fan_eve"),  # erased
            note("n4", "fan_bob", email=False),  # in-app only
        ]
    )
    assert await store.notifications.email_counts() == {"pending": 1, "none": 3}
    due = await store.notifications.due_emails(T0, 10)
    assert [(d.notification.id, d.to, d.name, d.locale, d.time_zone, d.attempts) for d in due] == [
        ("n1", "ann@fans.test", "Ann", "nl", "Europe/Amsterdam", 0)
    ]
    shown = await store.notifications.for_fan("fan_bot", 10)
    assert [n.email for n in shown] == [False]  # shown in-app, never mailed


async def test_what_is_due_comes_oldest_first_a_page_at_a_time(store: Store) -> None:
    later = T0 + timedelta(minutes=5)
    await store.notifications.add_many(
        [note("b", "fan_bob", later), note("a", "fan_ann"), note("c", "fan_ann", later)]
    )
    notes = store.notifications
    assert [d.notification.id for d in await notes.due_emails(T0, 10)] == ["a"]
    assert [d.notification.id for d in await notes.due_emails(later, 2)] == ["a", "b"]
    assert await notes.next_email_at() == T0


async def test_outcomes_are_recorded_only_over_a_pending_message(store: Store) -> None:
    notes = store.notifications
    await notes.add_many([note("s", "fan_ann"), note("r", "fan_bob"), note("f", "fan_ann")])
    retry_at = T0 + timedelta(minutes=1)
    await notes.emails_done(
        [
            EmailOutcome("s", "sent", 1, T0),
            EmailOutcome("r", "pending", 1, T0, retry_at, "451 busy"),
            EmailOutcome("f", "failed", 1, T0, None, "550 no such user"),
        ]
    )
    assert await notes.email_counts() == {"sent": 1, "pending": 1, "failed": 1}
    assert await notes.next_email_at() == retry_at
    assert await notes.due_emails(T0, 10) == []
    [again] = await notes.due_emails(retry_at, 10)
    assert (again.notification.id, again.attempts) == ("r", 1)
    # a late duplicate outcome cannot turn a failed or sent message back
    await notes.emails_done(
        [EmailOutcome("f", "sent", 2, T0), EmailOutcome("s", "pending", 2, T0, T0, "x")]
    )
    assert await notes.email_counts() == {"sent": 1, "pending": 1, "failed": 1}
    await notes.emails_done([EmailOutcome("r", "dropped", 1, retry_at, None, "too late")])
    assert await notes.next_email_at() is None


async def test_the_doorbell_rings_after_a_durable_write_with_mail(store: Store) -> None:
    rung: list[str] = []
    store.notifications.on_email(lambda: rung.append("ring"))
    await store.notifications.add_many([note("quiet", "fan_ann", email=False)])
    await _turns(3)
    assert rung == []  # nothing to mail: nobody is woken
    await store.notifications.add_many([note("mail", "fan_ann")])
    await _turns(3)  # the ring is a callback after the commit, not inside the write
    assert rung == ["ring"]


async def test_reminders_progress_is_written_with_their_notifications(store: Store) -> None:
    notes = store.notifications
    assert await notes.reminders() == {}
    await notes.remember({"opening:l1:t": "mark-1"}, [note("r1", "fan_ann")], T0)
    await notes.remember({"opening:l1:t": "mark-2", "claim:c1": "sent"}, [], T0)
    assert await notes.reminders() == {"opening:l1:t": "mark-2", "claim:c1": "sent"}
    assert [n.id for n in await notes.for_fan("fan_ann", 10)] == ["r1"]
    assert (await notes.email_counts()).get("pending") == 1


async def test_a_reminders_mark_never_lands_without_its_notifications(tmp_path: Path) -> None:
    """On SQLite a write can fail (here: a notification id already taken); the mark of how
    far the reminder got must fail with it, or a restart would skip those fans."""
    store = SqliteStore(tmp_path / "s.db")
    await store.open()
    try:
        await store.fans.add(Fan("fan_ann", "ann@fans.test", "Ann", "R1", None, T0))
        await store.notifications.remember({"opening:l1:t": "mark-1"}, [note("r1", "fan_ann")], T0)
        with pytest.raises(sqlite3.IntegrityError):
            await store.notifications.remember(
                {"opening:l1:t": "mark-2"}, [note("r2", "fan_ann"), note("r1", "fan_ann")], T0
            )
        assert await store.notifications.reminders() == {"opening:l1:t": "mark-1"}
        assert [n.id for n in await store.notifications.for_fan("fan_ann", 10)] == ["r1"]
    finally:
        await store.close()


async def _turns(count: int) -> None:
    """Let callbacks already scheduled run (a yield to the loop, not a wait for time)."""
    for _ in range(count):
        await asyncio.sleep(0)
