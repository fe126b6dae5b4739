"""A maker who moves a launch's opening before it opened tells each fan who reserved, over
the API as in the admin: their page says the old and the new time, in their own zone, and
that the reservation stands; the e-mail waits in the outbox. A fan who did not reserve
hears nothing, and neither does anyone of a change that leaves the time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.integration.test_fan_journeys import Fan, Shop, shop, text_of

__all__ = ["shop"]  # (the fixture, used by name)


async def told(shop: Shop, fan: Fan) -> list[dict[str, object]]:
    notes = await shop.platform.store.notifications.for_fan(fan.id, 20)
    return [dict(n.data) for n in notes if n.kind == "opening_moved"]


async def test_fans_who_reserved_are_told_the_new_opening_on_their_page(shop: Shop) -> None:
    opens = shop.clock.now().replace(hour=12, minute=0, second=0, microsecond=0)
    opens += timedelta(days=1)
    launch = await shop.launch(sale_opens_at=opens.isoformat())
    lid = launch["id"]
    reserving, bystander = await shop.fan("Ann"), await shop.fan("Bob")
    reserving.browser.cookies.set("soldout_tz", "Europe/Amsterdam")
    reserved = await shop.anyone.post(
        f"/api/v1/launches/{lid}/reservations", headers=reserving.auth
    )
    assert reserved.status_code == 201, reserved.text
    renamed = await shop.api.patch(f"/api/v1/launches/{lid}", json={"title": "Model One: drop"})
    assert renamed.status_code == 200, renamed.text
    assert await told(shop, reserving) == []

    later = opens + timedelta(minutes=30)
    moved = await shop.api.patch(
        f"/api/v1/launches/{lid}", json={"sale_opens_at": later.isoformat()}
    )
    assert moved.status_code == 200, moved.text
    assert datetime.fromisoformat(moved.json()["sale_opens_at"]) == later

    data = {"launch_id": lid, "before": opens.isoformat(), "after": later.isoformat()}
    assert await told(shop, reserving) == [{**data, "draw": False}]
    assert await told(shop, bystander) == []
    due = await shop.platform.store.notifications.due_emails(shop.clock.now(), 50)
    assert [e.to for e in due if e.notification.kind == "opening_moved"] == [reserving.email]

    page = text_of(await reserving.browser.get("/me"))
    assert (
        "The opening of Model One: drop moved from"  # in Amsterdam: 12:00 UTC is 13:00
        in page
    )
    assert "13:00 (Central European Time) to" in page
    assert "13:30 (Central European Time); your reservation stands." in page


async def test_a_time_given_with_another_offset_is_told_in_utc(shop: Shop) -> None:
    """The notice's own words say UTC: a new time sent as 14:30+02:00 reads 12:30 UTC."""
    opens = shop.clock.now().replace(hour=12, minute=0, second=0, microsecond=0)
    opens += timedelta(days=1)
    launch = await shop.launch(sale_opens_at=opens.isoformat())
    fan = await shop.fan("Ann")
    reserved = await shop.anyone.post(
        f"/api/v1/launches/{launch['id']}/reservations", headers=fan.auth
    )
    assert reserved.status_code == 201, reserved.text
    east = (opens + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=2)))
    assert east.isoformat().endswith("14:30:00+02:00")
    moved = await shop.api.patch(
        f"/api/v1/launches/{launch['id']}", json={"sale_opens_at": east.isoformat()}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["sale_opens_at"].endswith("12:30:00+00:00")  # as every time: UTC
    notes = await shop.platform.store.notifications.for_fan(fan.id, 20)
    (note,) = [n for n in notes if n.kind == "opening_moved"]
    assert "12:30 UTC; your reservation stands." in note.message
