"""The maker's e-mails to their team, on the in-memory store with a fake clock and the
in-memory relay: a launch selling out tells each owner and staff member who wants it,
once, even after a restart; a payment given back and a fan's cancelled order tell them
too; read-only members, members who turned them off and the bootstrap token get none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.headerregistry import Address

import pytest

from soldout.clock import FakeClock
from soldout.domain import errors
from soldout.domain.team import Admin, Role
from soldout.mail.compose import Composer
from soldout.mail.facts import EngineFacts
from soldout.mail.outbox import Outbox
from soldout.mail.retry import RetryPolicy
from soldout.mail.team_letters import took
from soldout.mail.transport import MemoryTransport
from soldout.services import Platform
from soldout.store.memory import InMemoryStore
from tests.unit.conftest import open_launch
from tests.unit.test_mail_compose import bodies
from tests.unit.test_team import ADMIN, HERE, PASSWORD, make


def outbox_of(platform: Platform, relay: MemoryTransport) -> Outbox:
    composer = Composer(
        sender=Address(addr_spec="shop@shop.test"),  # no name: the shop's is shown
        base_url="https://shop.test",
        facts=EngineFacts(platform.engine),
    )
    return Outbox(
        platform.store.notifications,
        platform.store.shop,
        relay,
        composer,
        platform.clock,
        retry=RetryPolicy(attempts=2),
    )


async def member(shop: Platform, owner: Admin, email: str, role: Role) -> Admin:
    _, key = await shop.team.invite(owner, email, role)
    account, _ = await shop.team.accept(key, email.split("@")[0].title(), PASSWORD, HERE)
    return Admin(account.id, account.role, account.actor, account)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
async def shop(store: InMemoryStore, clock: FakeClock) -> AsyncIterator[Platform]:
    """Ada owns the shop, Bob is staff, Rita read-only, Carl staff who turned the team's
    e-mails off."""
    platform = make(store, clock)
    await platform.start(sweep=False)
    bootstrap = platform.team.who(await platform.team.sign_in_with_token(ADMIN, HERE))
    assert bootstrap is not None
    ada, _ = await platform.team.create_first_owner(bootstrap, "ada@team.test", "Ada", PASSWORD)
    owner = Admin(ada.id, ada.role, ada.actor, ada)
    await member(platform, owner, "bob@team.test", Role.STAFF)
    await member(platform, owner, "rita@team.test", Role.READ_ONLY)
    carl = await member(platform, owner, "carl@team.test", Role.STAFF)
    await platform.team.set_maker_mail(carl, False)
    with pytest.raises(errors.Forbidden):  # the token has no address to turn anything on
        await platform.team.set_maker_mail(bootstrap, True)
    yield platform
    await platform.stop()


WANTING = ["ada@team.test", "bob@team.test"]


async def test_a_sold_out_launch_mails_each_member_who_wants_it_once_even_after_a_restart(
    shop: Platform, store: InMemoryStore, clock: FakeClock
) -> None:
    relay = MemoryTransport()
    book = await open_launch(shop, batch={"A": 2, "B": 1})
    paid = (await shop.engine.claim("fan_1", book.launch.id, "A", 1, "k1")).claim
    await shop.engine.pay("fan_1", paid.id, "test", "tok", "p1")
    clock.advance(125)
    await shop.engine.claim("fan_2", book.launch.id, "A", 1, "k2")
    assert await shop.sold_out_news.step() == 0  # B is still open to everyone
    clock.advance(60)
    await shop.engine.claim("fan_3", book.launch.id, "B", 1, "k3")
    clock.advance(1)
    assert await shop.sold_out_news.step() == 1
    assert await shop.sold_out_news.step() == 0  # decided: not again at the next look
    assert (await outbox_of(shop, relay).send_due()).sent == 2
    assert sorted(e.recipient for e in relay.sent) == WANTING
    message = relay.to("ada@team.test")[0]
    assert message["Subject"] == "Sold out: t"
    name = (await shop.store.shop.get()).name
    assert message["From"] == f"{name} <shop@shop.test>"  # the shop's name, as fans see it
    text, html = bodies(message)
    link = f"https://shop.test/admin/launches/{book.launch.id}"
    assert f'href="{link}"' in html
    assert link in text
    # 3 min 06 s from the opening (1 s before the test's clock) to the last unit's claim
    assert "Took: 3 min 06 s" in text
    assert "Units paid: 1" in text
    assert "Units held, not paid yet: 2" in text
    assert "Revenue so far: €10.00" in text
    assert "https://shop.test/admin/team" in text  # where to turn them off

    # A unit comes back and sells again: nobody is told twice.
    await shop.engine.cancel("fan_3", (await shop.engine.claims_of_launch(book.launch.id))[-1].id)
    await shop.engine.claim("fan_4", book.launch.id, "B", 1, "k4")
    assert await shop.sold_out_news.step() == 0

    await shop.stop()
    again = make(store, clock)
    await again.start(sweep=False)
    try:
        assert again.engine.book(book.launch.id).sold_out()
        assert await again.sold_out_news.step() == 0  # the mark was written with the news
        assert (await outbox_of(again, relay).send_due()).sent == 0
    finally:
        await again.stop()
        await shop.start(sweep=False)  # (the fixture stops it)
    assert len(relay.sent) == 2


async def test_a_fan_cancelling_an_unshipped_order_mails_the_team(shop: Platform) -> None:
    relay = MemoryTransport()
    fan, _ = await shop.fans.register("ann@fans.test", "Ann")
    book = await open_launch(shop, batch={"A": 5})
    claim = (await shop.engine.claim(fan.id, book.launch.id, "A", 1, "k")).claim
    order = (await shop.engine.pay(fan.id, claim.id, "test", "tok", "p")).order
    assert order is not None
    await shop.engine.refund_order(order, "the maker's own reason")  # not the fan's: none
    order2_claim = (await shop.engine.claim(fan.id, book.launch.id, "A", 1, "k2")).claim
    order2 = (await shop.engine.pay(fan.id, order2_claim.id, "test", "tok", "p2")).order
    assert order2 is not None
    await shop.fans.cancel_order(fan.id, order2.id)
    await outbox_of(shop, relay).send_due()
    assert sorted(e.recipient for e in relay.sent if e.recipient.endswith("team.test")) == WANTING
    [message] = relay.to("bob@team.test")
    assert message["Subject"] == f"Order {order2.id} cancelled by the fan"
    text, _ = bodies(message)
    assert f"https://shop.test/admin/orders/{order2.id}" in text
    assert "Refunded: €10.00" in text
    assert len(relay.to("ann@fans.test")) == 4  # the fan's own: two orders, two refunds


async def test_a_payment_given_back_because_its_order_was_not_recorded_mails_the_team(
    shop: Platform, store: InMemoryStore
) -> None:
    relay = MemoryTransport()
    book = await open_launch(shop, batch={"A": 1})
    claim = (await shop.engine.claim("fan_1", book.launch.id, "A", 1, "k")).claim
    store.fail_next_transaction(errors.StorageUnavailable())
    with pytest.raises(errors.StorageUnavailable):
        await shop.engine.pay("fan_1", claim.id, "test", "tok", "p")
    await shop.engine.background.drain()  # the money goes back
    await outbox_of(shop, relay).send_due()
    assert sorted(e.recipient for e in relay.sent) == WANTING
    [message] = relay.to("ada@team.test")
    [payment] = shop.engine.checkout.payments_of(claim.id)
    assert message["Subject"] == f"Payment {payment.id} given back"
    text, _ = bodies(message)
    assert "the order could not be recorded" in text
    assert f"https://shop.test/admin/payments/{payment.id}" in text


async def test_a_removed_member_gets_nothing_still_pending(shop: Platform) -> None:
    relay = MemoryTransport()
    owner = shop.team.accounts()[0]
    bob = next(a for a in shop.team.accounts() if a.email == "bob@team.test")
    book = await open_launch(shop, batch={"A": 1})
    await shop.engine.claim("fan_1", book.launch.id, "A", 1, "k")
    await shop.sold_out_news.step()
    await shop.team.remove(Admin(owner.id, owner.role, owner.actor, owner), bob.id)
    await outbox_of(shop, relay).send_due()
    assert [e.recipient for e in relay.sent] == ["ada@team.test"]
    assert await shop.store.notifications.email_backlog() == 0


def test_how_long_it_took_is_said_to_the_unit_that_matters() -> None:
    from datetime import timedelta

    assert took(timedelta(seconds=7)) == "7 s"
    assert took(timedelta(minutes=4, seconds=5)) == "4 min 05 s"
    assert took(timedelta(hours=2, minutes=3, seconds=59)) == "2 h 03 min"
    assert took(timedelta(days=1, hours=4)) == "1 day 4 h"
    assert took(timedelta(days=3)) == "3 days 0 h"
