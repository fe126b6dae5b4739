"""Reminders are written once: "the sale opens in 10 minutes" once per launch and opening
time (again if the maker moves it), resumed after a crash without repeating anyone; "your
claim expires soon" once per claim still held, and only for windows long enough; "it is
your turn" for each fan the waiting room admits."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import pytest

from soldout.clock import FakeClock
from soldout.domain.launches import LaunchRules
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.domain.products import Sku
from soldout.engine.book import LaunchBook
from soldout.services import Platform
from soldout.services.reminders import Reminders
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore

LEAD = timedelta(minutes=10)


async def launch(
    platform: Platform,
    opens_in: timedelta,
    title: str = "Model One",
    rehearsal: str | None = None,
    **rules: object,
) -> LaunchBook:
    skus = [Sku("A", "Model One 64 GB", Money(19900, "EUR"), Money(9000, "EUR"))]
    product = await platform.catalog.create_product(title, "", skus, rehearsal=rehearsal)
    return await platform.catalog.create_launch(
        product_id=product.id,
        title=title,
        sale_opens_at=platform.clock.now() + opens_in,
        rules=LaunchRules(**rules),  # type: ignore[arg-type]
        batch={"A": 10},
        rehearsal=rehearsal,
    )


async def fans_reserving(
    platform: Platform, book: LaunchBook, count: int, tag: str, rehearsal: str | None = None
) -> list[str]:
    ids = []
    for i in range(count):
        fan, _ = await platform.fans.register(
            f"{tag}{i}@fans.test", f"{tag}{i}", rehearsal=rehearsal
        )
        await platform.fans.reserve(book.launch.id, fan.id, None)
        ids.append(fan.id)
    return ids


def notes_of(platform: Platform, kind: str) -> list[Notification]:
    store = platform.store
    assert isinstance(store, InMemoryStore)
    return [n for n in store.notifications.rows if n.kind == kind]


def reminders(platform: Platform, **options: object) -> Reminders:
    return Reminders(
        platform.engine,
        platform.store.notifications,
        platform.clock,
        opening_lead=LEAD,
        claim_lead=timedelta(minutes=5),
        **options,  # type: ignore[arg-type]
    )


async def test_every_fan_who_reserved_is_reminded_once(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(platform, timedelta(minutes=30))
    fans = await fans_reserving(platform, book, 5, "f")
    r = reminders(platform)
    await r.load()
    assert await r.step() == 0  # 30 minutes ahead: too early
    clock.advance(20 * 60)
    assert await r.step() == 5
    assert await r.step() == 0
    sent = notes_of(platform, "sale_opening")
    assert sorted(n.fan_id for n in sent) == sorted(fans)
    assert sent[0].data == {
        "launch_id": book.launch.id,
        "sale_opens_at": book.launch.sale_opens_at.isoformat(),
        "draw": False,
    }
    assert "starts in 10 minutes" in sent[0].message
    # a fan who reserves in the last minutes is reminded too, alone
    late = await fans_reserving(platform, book, 1, "late")
    clock.advance(5 * 60)
    assert await r.step() == 1
    assert notes_of(platform, "sale_opening")[-1].fan_id == late[0]
    # closer than a minute before the opening, a reminder would come too late
    await fans_reserving(platform, book, 1, "later")
    clock.advance(4 * 60 + 30)
    assert await r.step() == 0


async def test_a_fan_who_reserves_as_another_leaves_is_reminded_too(
    platform: Platform, clock: FakeClock
) -> None:
    """As many reservations as at the last look is not "nobody new": one fan erased their
    account (their entry went) while another reserved."""
    book = await launch(platform, timedelta(minutes=9))
    first = await fans_reserving(platform, book, 3, "f")
    r = reminders(platform)
    await r.load()
    assert await r.step() == 3
    await platform.fans.erase(first[0])
    new = await fans_reserving(platform, book, 1, "new")
    assert len(book.reservations) == 3  # the same count as at the last look
    assert await r.step() == 1
    assert notes_of(platform, "sale_opening")[-1].fan_id == new[0]


async def test_a_moved_opening_is_reminded_again_at_its_new_time(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(platform, timedelta(minutes=9))
    await fans_reserving(platform, book, 3, "f")
    first = book.launch.sale_opens_at
    r = reminders(platform)
    await r.load()
    assert await r.step() == 3
    moved = book.launch.with_changes(sale_opens_at=clock.now() + timedelta(hours=1))
    await platform.engine.launches.change(moved)
    assert await r.step() == 0
    clock.advance(51 * 60)
    assert await r.step() == 3
    told = Counter(n.data["sale_opens_at"] for n in notes_of(platform, "sale_opening"))
    assert told == {first.isoformat(): 3, moved.sale_opens_at.isoformat(): 3}


async def test_a_crash_midway_resumes_after_the_last_fan_told(clock: FakeClock) -> None:
    store = InMemoryStore()
    platform = Platform(store, TokenSigner(b"k" * 32, "adm"), clock=clock)
    await platform.start(sweep=False)
    book = await launch(platform, timedelta(minutes=10))
    await fans_reserving(platform, book, 7, "f")
    writes = 0
    real = store.notifications.remember

    def crash_on_third(
        progress: Mapping[str, str], notes: Sequence[Notification], at: datetime
    ) -> asyncio.Future[None]:
        nonlocal writes
        writes += 1
        if writes == 3:
            raise RuntimeError("power cut")
        return real(progress, notes, at)

    store.notifications.remember = crash_on_third  # type: ignore[method-assign]
    first = reminders(platform, chunk=2)
    await first.load()
    with pytest.raises(RuntimeError, match="power cut"):
        await first.step()
    del store.notifications.remember  # type: ignore[method-assign]
    await platform.stop()

    reborn = Platform(store.crash_copy(), TokenSigner(b"k" * 32, "adm"), clock=clock)
    await reborn.start(sweep=False)
    second = reminders(reborn, chunk=2)
    await second.load()
    assert await second.step() == 3  # the 4 told before the crash are not told again
    told = Counter(n.fan_id for n in notes_of(reborn, "sale_opening"))
    assert len(told) == 7
    assert set(told.values()) == {1}
    await reborn.stop()


async def test_cancelled_and_rehearsal_launches_remind_nobody(
    platform: Platform, clock: FakeClock
) -> None:
    cancelled = await launch(platform, timedelta(minutes=5), "cancelled")
    await fans_reserving(platform, cancelled, 2, "c")
    await platform.engine.launches.change(cancelled.launch.with_changes(cancelled_at=clock.now()))
    made_up = await launch(platform, timedelta(minutes=5), "rehearsed", rehearsal="run_1")
    await fans_reserving(platform, made_up, 2, "r", rehearsal="run_1")
    r = reminders(platform)
    await r.load()
    assert await r.step() == 0


async def test_a_held_claim_is_reminded_once_before_its_window_ends(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(platform, -timedelta(minutes=1), payment_window_seconds=900)
    short = await launch(platform, -timedelta(minutes=1), "short", payment_window_seconds=540)
    fans = [(await platform.fans.register(f"c{i}@fans.test", f"c{i}"))[0].id for i in range(3)]
    held = (await platform.engine.claim(fans[0], book.launch.id, "A", 1, "k0")).claim
    paid = (await platform.engine.claim(fans[1], book.launch.id, "A", 1, "k1")).claim
    await platform.engine.claim(fans[2], short.launch.id, "A", 1, "k2")  # 9 minutes: none
    await platform.engine.pay(fans[1], paid.id, "test", "tok_ok", "p1")
    r = reminders(platform)
    await r.load()
    clock.advance(9 * 60)
    assert await r.step() == 0  # 6 minutes left
    clock.advance(60)
    assert await r.step() == 1  # 5 minutes left
    assert await r.step() == 0
    [note] = notes_of(platform, "claim_expiring")
    assert (note.fan_id, note.data["claim_id"]) == (fans[0], held.id)
    assert note.data["expires_at"] == held.expires_at.isoformat()
    # after a restart the same claim is not reminded again
    again = reminders(platform)
    await again.load()
    assert await again.step() == 0


async def test_claims_made_over_time_are_reminded_as_each_comes_due(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(platform, -timedelta(minutes=1), payment_window_seconds=600)
    fans = [(await platform.fans.register(f"t{i}@fans.test", f"t{i}"))[0].id for i in range(4)]
    made = []
    for i, fan_id in enumerate(fans):  # a claim a minute
        made.append((await platform.engine.claim(fan_id, book.launch.id, "A", 1, f"k{i}")).claim)
        clock.advance(60)
    await platform.engine.cancel(fans[2], made[2].id)  # let go before its reminder
    r = reminders(platform)
    await r.load()
    told: list[str] = []
    for _ in range(6):  # a look a minute: each claim at its own 5 minutes left
        await r.step()
        told.append(",".join(n.fan_id[-2:] for n in notes_of(platform, "claim_expiring")))
        clock.advance(60)
    ids = [f[-2:] for f in fans]
    assert told == [
        "",  # 4 minutes after the first claim: 6 minutes left, not yet
        ids[0],
        f"{ids[0]},{ids[1]}",
        f"{ids[0]},{ids[1]}",  # the third was cancelled
        f"{ids[0]},{ids[1]},{ids[3]}",
        f"{ids[0]},{ids[1]},{ids[3]}",
    ]


async def test_each_admission_from_the_waiting_room_is_told(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(
        platform, timedelta(seconds=30), waiting_room_rate=1.0, waiting_room_burst=1
    )
    fans = [(await platform.fans.register(f"w{i}@fans.test", f"w{i}"))[0].id for i in range(3)]
    for fan_id in fans:
        await platform.gate.join(book, fan_id)
    clock.advance(30)
    views = {f: platform.gate.view(book, f) for f in fans}  # the burst lets one in
    admitted = [f for f, v in views.items() if v.state == "admitted"]
    assert len(admitted) == 1
    assert notes_of(platform, "admitted") == []  # written after the poll, not inside it
    # The write was queued with call_soon inside the poll: it runs at the next turn of the
    # loop, before this test resumes from a yield (callbacks run in order).
    await asyncio.sleep(0)
    [note] = notes_of(platform, "admitted")
    assert note.fan_id == admitted[0]
    assert note.data["launch_id"] == book.launch.id
    view = views[admitted[0]]
    assert view.admission_expires_at is not None
    assert note.data["expires_at"] == view.admission_expires_at.isoformat()


async def test_a_one_minute_lead_still_reminds(platform: Platform, clock: FakeClock) -> None:
    """SOLDOUT_REMINDER_MINUTES=1: the reservation e-mail promises a reminder a minute
    ahead, and one comes (in the first half of that minute), once."""
    book = await launch(platform, timedelta(minutes=5))
    fans = await fans_reserving(platform, book, 2, "f")
    r = Reminders(platform.engine, platform.store.notifications, platform.clock,
                  opening_lead=timedelta(minutes=1))  # fmt: skip
    await r.load()
    clock.advance(3 * 60 + 50)
    assert await r.step() == 0  # 70 seconds ahead: not yet
    clock.advance(15)
    assert await r.step() == 2
    assert sorted(n.fan_id for n in notes_of(platform, "sale_opening")) == sorted(fans)
    assert "starts in 1 minute" in notes_of(platform, "sale_opening")[0].message
    clock.advance(30)  # 25 seconds ahead: too late for anyone who reserves now
    await fans_reserving(platform, book, 1, "late")
    assert await r.step() == 0
