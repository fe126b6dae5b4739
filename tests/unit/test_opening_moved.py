"""A maker who moves the opening of a launch before it opened tells every fan who reserved
(who planned to be at their screen at the old time), in the transaction of the move: once
per move, with the time it moved from and to. Nobody else is told: not for a change that
leaves the time, a move after the sale opened, a rehearsal's launch or a cancellation."""

from __future__ import annotations

from datetime import timedelta

from soldout.clock import FakeClock
from soldout.domain.launches import Mode
from soldout.services import Platform
from soldout.services.catalog import LaunchChanges
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from tests.unit.test_mail_reminders import fans_reserving, launch, notes_of


async def test_every_fan_who_reserved_is_told_of_each_move(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(platform, timedelta(hours=2))
    fans = await fans_reserving(platform, book, 3, "f")
    await platform.fans.register("bystander@fans.test", "Bystander")
    first = book.launch.sale_opens_at
    later, earlier = first + timedelta(hours=1), first - timedelta(minutes=30)
    catalog = platform.catalog
    await catalog.change_launch(book.launch.id, LaunchChanges(sale_opens_at=later))
    clock.advance(60)
    await catalog.change_launch(book.launch.id, LaunchChanges(sale_opens_at=earlier))

    told = notes_of(platform, "opening_moved")
    assert [n.fan_id for n in told] == fans + fans  # each fan, each move, in reserving order
    assert [n.data for n in told] == [
        {
            "launch_id": book.launch.id,
            "before": before.isoformat(),
            "after": after.isoformat(),
            "draw": False,
        }
        for before, after in ((first, later), (later, earlier))
        for _ in fans
    ]
    assert all(n.email for n in told)
    assert told[0].message == (
        f"The opening of 'Model One' moved from {first:%Y-%m-%d %H:%M} UTC to"
        f" {later:%Y-%m-%d %H:%M} UTC; your reservation stands."
    )


async def test_an_entry_in_a_draw_is_told_the_draw_moved(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(platform, timedelta(hours=2), mode=Mode.DRAW)
    (fan,) = await fans_reserving(platform, book, 1, "d")
    later = book.launch.sale_opens_at + timedelta(days=1)
    await platform.catalog.change_launch(book.launch.id, LaunchChanges(sale_opens_at=later))
    (told,) = notes_of(platform, "opening_moved")
    assert (told.fan_id, told.data["draw"]) == (fan, True)
    assert told.message.startswith("The draw for 'Model One' moved from ")
    assert told.message.endswith("; your entry stands.")


async def test_a_change_that_leaves_the_opening_tells_nobody(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(platform, timedelta(hours=2))
    await fans_reserving(platform, book, 2, "f")
    opens = book.launch.sale_opens_at
    same = opens + timedelta(microseconds=400)  # to the second, as a form sends it
    for changes in (
        LaunchChanges(title="Model One, renamed"),
        LaunchChanges(sale_opens_at=same),
        LaunchChanges(sale_closes_at=opens + timedelta(days=1)),
        LaunchChanges(rules={"per_fan_limit": 2}),
    ):
        await platform.catalog.change_launch(book.launch.id, changes)
    assert book.launch.sale_opens_at == opens
    assert notes_of(platform, "opening_moved") == []


async def test_a_move_after_the_sale_opened_tells_nobody(
    platform: Platform, clock: FakeClock
) -> None:
    book = await launch(platform, timedelta(minutes=5))
    await fans_reserving(platform, book, 2, "f")
    clock.advance(6 * 60)  # open, and nobody claimed yet: the maker may still move it
    later = clock.now() + timedelta(hours=1)
    await platform.catalog.change_launch(book.launch.id, LaunchChanges(sale_opens_at=later))
    assert book.launch.sale_opens_at == later
    assert notes_of(platform, "opening_moved") == []


async def test_rehearsals_and_cancellations_tell_nobody_of_a_move(
    platform: Platform, clock: FakeClock
) -> None:
    made_up = await launch(platform, timedelta(hours=2), "rehearsed", rehearsal="run_1")
    await fans_reserving(platform, made_up, 2, "r", rehearsal="run_1")
    later = made_up.launch.sale_opens_at + timedelta(hours=1)
    await platform.catalog.change_launch(made_up.launch.id, LaunchChanges(sale_opens_at=later))
    assert made_up.launch.sale_opens_at == later

    ending = await launch(platform, timedelta(hours=2), "ending")
    await fans_reserving(platform, ending, 2, "e")
    both = LaunchChanges(sale_opens_at=later, cancel=True)
    await platform.catalog.change_launch(ending.launch.id, both)
    assert notes_of(platform, "opening_moved") == []
    assert len(notes_of(platform, "launch_cancelled")) == 2  # told that instead


async def test_a_move_told_is_on_record_after_a_crash_and_not_told_again(
    clock: FakeClock,
) -> None:
    store = InMemoryStore()
    platform = Platform(store, TokenSigner(b"k" * 32, "adm"), clock=clock)
    await platform.start(sweep=False)
    book = await launch(platform, timedelta(hours=2))
    fans = await fans_reserving(platform, book, 3, "f")
    later = book.launch.sale_opens_at + timedelta(hours=1)
    await platform.catalog.change_launch(book.launch.id, LaunchChanges(sale_opens_at=later))
    await platform.stop()

    reborn = Platform(store.crash_copy(), TokenSigner(b"k" * 32, "adm"), clock=clock)
    await reborn.start(sweep=False)
    told = notes_of(reborn, "opening_moved")
    assert sorted(n.fan_id for n in told) == sorted(fans)
    due = await reborn.store.notifications.due_emails(clock.now(), 50)
    assert sum(1 for e in due if e.notification.kind == "opening_moved") == 3  # in the outbox
    same = LaunchChanges(sale_opens_at=later, rules={"per_fan_limit": 2})
    await reborn.catalog.change_launch(book.launch.id, same)
    assert len(notes_of(reborn, "opening_moved")) == 3
    await reborn.stop()
