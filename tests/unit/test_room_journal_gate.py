"""The gate answers a join to the waiting room only once its place is written to the
room's journal (several workers: Redis, so that another owner gives it back), a second
join by the same fan too; without a journal (one process) it answers at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from soldout.clock import FakeClock
from soldout.services import Platform
from tests.unit.test_mail_reminders import launch


class HeldJournal:
    """A journal whose writes complete when the test says."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, str, datetime]] = []
        self.writes: dict[tuple[str, str], asyncio.Future[None]] = {}

    def joined(self, launch_id: str, fan_id: str, at: datetime) -> asyncio.Future[None]:
        self.taken.append((launch_id, fan_id, at))
        done = self.writes[launch_id, fan_id] = asyncio.get_running_loop().create_future()
        return done

    def pending(self, launch_id: str, fan_id: str) -> asyncio.Future[None] | None:
        done = self.writes.get((launch_id, fan_id))
        return None if done is None or done.done() else done

    def skipped(self, launch_id: str, fan_id: str, joined_at: datetime) -> None:
        return None

    def told(self, launch_id: str, admissions: int) -> None:
        return None

    def places(self, launch_id: str) -> tuple[list[tuple[str, datetime]], int]:
        return [], 0  # (a room opened here has nothing to read back)


async def test_a_join_is_answered_once_its_place_is_written(
    platform: Platform, clock: FakeClock
) -> None:
    journal = HeldJournal()
    platform.gate.room_journal = journal
    book = await launch(platform, timedelta(minutes=5), waiting_room_rate=1.0)
    fan = (await platform.fans.register("w@fans.test", "w"))[0].id
    first = asyncio.ensure_future(platform.gate.join(book, fan))
    again = asyncio.ensure_future(platform.gate.join(book, fan))  # a double click
    await asyncio.wait([first, again], timeout=0)  # one turn of the loop: both ran to the wait
    assert [(f, at) for _, f, at in journal.taken] == [(fan, clock.now())]  # one place
    assert not first.done()
    assert not again.done()
    journal.writes[book.launch.id, fan].set_result(None)
    views = await asyncio.gather(first, again)
    assert [v.state for v in views] == ["waiting", "waiting"]
    # written: a later join is answered at once, and writes nothing more
    view = await asyncio.wait_for(platform.gate.join(book, fan), timeout=5)
    assert view.state == "waiting"
    assert len(journal.taken) == 1


async def test_without_a_journal_a_join_is_answered_at_once(platform: Platform) -> None:
    book = await launch(platform, timedelta(minutes=5), waiting_room_rate=1.0)
    fan = (await platform.fans.register("w@fans.test", "w"))[0].id
    view = await asyncio.wait_for(platform.gate.join(book, fan), timeout=5)
    assert view.state == "waiting"
