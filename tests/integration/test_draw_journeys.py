"""A draw over HTTP in-process (as test_fan_journeys.py): its winners are told and pay,
losers learn their place, a unit a winner lets go passes down the backup list and its fan
is told, and the launch page's own block of the fan follows."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from tests.integration.test_fan_journeys import (
    AMSTERDAM,
    Shop,
    enter_draw,
    letter_text,
    shop,
    text_of,
)

# its behaviour holds on the owner and two workers too (docs/scale-out.md)
pytestmark = pytest.mark.scale_out_too

__all__ = ["shop"]  # (the fixture, used by name)


async def test_a_draw_winner_is_told_and_pays_losers_learn_their_place(shop: Shop) -> None:
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(
        mode="draw", batch={"A": 1}, sale_opens_at=opens.isoformat(), payment_window_seconds=900
    )
    fans = [await shop.fan(f"Fan{i}") for i in range(3)]
    await enter_draw(fans, launch["id"])
    page = text_of(await fans[0].browser.get(f"/launches/{launch['id']}"))
    assert "You are in the draw for Model One black" in page

    shop.clock.set(opens)
    await shop.platform.engine.expire_due()  # the sweeper's wake-up at the opening draws

    winners = [f for f in fans if shop.platform.fans.held_claims(f.id)]
    assert len(winners) == 1
    winner = winners[0]
    losers = [f for f in fans if f is not winner]
    (held,) = shop.platform.fans.held_claims(winner.id)

    launch_page = await winner.browser.get(f"/launches/{launch['id']}")
    words = text_of(launch_page)
    assert "You won: one Model One black is yours if you pay by" in words
    assert f'href="/claims/{held.id}"' in launch_page.text
    me = await winner.browser.get("/me")
    assert "Waiting for your payment" in text_of(me)
    assert f'href="/claims/{held.id}"' in me.text
    assert "You won: one Model One black is held for you." in text_of(me)  # the message

    places = set()
    for loser in losers:
        said = text_of(await loser.browser.get(f"/launches/{launch['id']}"))
        found = re.search(r"You are number (\d+) on the backup list for Model One black", said)
        assert found, said
        places.add(int(found.group(1)))
        notes = await shop.platform.fans.notifications(loser.id, 10)
        assert [n.kind for n in notes][:1] == ["draw_lost"]
    assert places == {1, 2}

    paid = await shop.pay(winner, held.id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    order_page = await winner.browser.get(f"/orders/{paid.json()['id']}")
    assert "Ships to Ann de Vries Keizersgracht 1 1015 CD Amsterdam Netherlands" in text_of(
        order_page
    )
    # cancelled, a drawn unit goes down the backup list: it does not go back on sale
    assert "the unit goes to the next fan on the draw's backup list" in text_of(order_page)


async def test_a_backup_gets_the_unit_a_winner_lets_go_and_is_told(shop: Shop) -> None:
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(mode="draw", batch={"A": 1}, sale_opens_at=opens.isoformat())
    fans = [await shop.fan(f"Fan{i}") for i in range(2)]
    await enter_draw(fans, launch["id"])
    shop.clock.set(opens)
    await shop.platform.engine.expire_due()
    winner = next(f for f in fans if shop.platform.fans.held_claims(f.id))
    backup = next(f for f in fans if f is not winner)
    (won,) = shop.platform.fans.held_claims(winner.id)

    released = await shop.anyone.delete(f"/api/v1/claims/{won.id}", headers=winner.auth)
    assert released.status_code == 200, released.text
    await shop.platform.engine.background.drain()

    (passed,) = shop.platform.fans.held_claims(backup.id)
    words = text_of(await backup.browser.get(f"/launches/{launch['id']}"))
    assert "You won: one Model One black is yours if you pay by" in words
    me = text_of(await backup.browser.get("/me"))
    assert "A unit came back and you were next on the backup list" in me
    mine = await shop.anyone.get("/api/v1/me/claims", headers=backup.auth)
    assert [c["id"] for c in mine.json()] == [passed.id]
    # the winner let it go: nobody was told that a winner "did not pay", nor that a unit
    # "goes back on sale" (it goes down the backup list)
    (told,) = [n for n in await shop.platform.fans.notifications(backup.id, 10)
               if n.kind == "draw_won"]  # fmt: skip
    expiring = replace(told, kind="claim_expiring", data={"claim_id": passed.id})
    for note in (told, expiring):
        text = await letter_text(shop, note)
        assert "did not pay" not in text, text
        assert "back on sale" not in text, text
    told_text, expiring_text = await letter_text(shop, told), await letter_text(shop, expiring)
    assert "A drawn unit came back, and you were next on the backup list" in told_text
    # they were the last on the list: no "next person" is spoken of, as there is none
    assert "Nobody is left on the backup list to take it." in told_text
    assert "next person" not in told_text
    assert "Nobody is left on the draw's backup list to take it." in expiring_text
    assert "next fan" not in expiring_text
    rules = text_of(await backup.browser.get(f"/launches/{launch['id']}"))
    assert (
        "A winner has 15 minutes to pay. A unit not paid for in time, or given back, passes to"
        " the next fan on the backup list." in rules
    )
    assert "goes back on sale" not in rules


async def test_the_draw_says_a_unit_given_back_passes_down_the_list_too(shop: Shop) -> None:
    """The draw's result said only "if a winner does not pay": a unit a winner gives back
    (a claim let go, an order refunded) passes down the backup list as well. The winner's
    own e-mails speak of the next person on the list while one waits there."""
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(mode="draw", batch={"A": 1}, sale_opens_at=opens.isoformat())
    fans = [await shop.fan(f"Fan{i}") for i in range(2)]
    await enter_draw(fans, launch["id"])
    shop.clock.set(opens)
    await shop.platform.engine.expire_due()
    winner = next(f for f in fans if shop.platform.fans.held_claims(f.id))
    backup = next(f for f in fans if f is not winner)

    (lost,) = [n for n in await shop.platform.fans.notifications(backup.id, 10)
               if n.kind == "draw_lost"]  # fmt: skip
    letter = await letter_text(shop, lost)
    assert (
        "You are number 1 on the backup list for Model One black. A unit a winner does not pay"
        " for in time, or gives back, goes to the next person on the list. If that is you, we"
        " e-mail you at once." in letter
    )
    said = {
        "the message": text_of(await backup.browser.get("/me")),
        "the launch page": text_of(await backup.browser.get(f"/launches/{launch['id']}")),
        "the e-mail": letter,
        "the message's own text": lost.message,
    }
    for where, words in said.items():
        assert "or gives back" in words, (where, words)
        assert "if a winner does not pay," not in words, (where, words)

    (won,) = [n for n in await shop.platform.fans.notifications(winner.id, 10)
              if n.kind == "draw_won"]  # fmt: skip
    (held,) = shop.platform.fans.held_claims(winner.id)
    expiring = replace(won, kind="claim_expiring", data={"claim_id": held.id})
    assert "after that it goes to the next person on the backup list" in (
        await letter_text(shop, won)
    )
    assert "the unit passes to the next fan on the draw's backup list" in (
        await letter_text(shop, expiring)
    )


async def test_the_launch_page_s_block_of_the_fan_is_served_alone_as_the_page_has_it(
    shop: Shop,
) -> None:
    """store.js fetches the block again as it polls (`data-live`), so a winner who gave the
    unit back elsewhere no longer reads "You won… Pay now" on the open page."""
    opens = shop.clock.now() + timedelta(minutes=10)
    launch = await shop.launch(mode="draw", batch={"A": 1}, sale_opens_at=opens.isoformat())
    lid = launch["id"]
    fans = [await shop.fan(f"Fan{i}") for i in range(2)]
    await enter_draw(fans, lid)
    shop.clock.set(opens)
    await shop.platform.engine.expire_due()
    winner = next(f for f in fans if shop.platform.fans.held_claims(f.id))
    backup = next(f for f in fans if f is not winner)

    def block(page: httpx.Response) -> str:
        found = re.search(r'<div id="you".*?</div>', page.text, flags=re.S)
        assert found, page.text
        return found.group(0)

    for fan in (winner, backup):  # the block alone is the page's own, to the character
        alone = await fan.browser.get(f"/launches/{lid}/you")
        assert alone.status_code == 200, alone.text
        assert block(alone) == block(await fan.browser.get(f"/launches/{lid}"))
        assert 'data-live="1"' in alone.text  # a unit to pay for; a place on the list
    assert (await shop.browser().get(f"/launches/{lid}/you")).status_code == 204  # nobody's

    (won,) = shop.platform.fans.held_claims(winner.id)
    released = await shop.anyone.delete(f"/api/v1/claims/{won.id}", headers=winner.auth)
    assert released.status_code == 200, released.text
    await shop.platform.engine.background.drain()

    theirs = await winner.browser.get(f"/launches/{lid}/you")
    assert "You won" not in text_of(theirs)
    assert "/claims/" not in theirs.text
    assert 'data-live="0"' in theirs.text  # nothing more to follow
    assert 'data-held-claim=""' in theirs.text  # (the page's "pay for what you hold" link)
    passed = await backup.browser.get(f"/launches/{lid}/you")
    assert "You won: one Model One black is yours if you pay by" in text_of(passed)
    (theirs_now,) = shop.platform.fans.held_claims(backup.id)
    paid = await shop.pay(backup, theirs_now.id, shipping=AMSTERDAM)
    assert paid.status_code == 200, paid.text
    ordered = await backup.browser.get(f"/launches/{lid}/you")
    # an order changes over days: fetched when the page is shown again, not at each poll
    assert 'data-live="0"' in ordered.text
