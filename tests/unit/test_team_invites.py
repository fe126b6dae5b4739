"""An address has one open invite, and none once it joined or was removed: an old link
must not let a removed member back in."""

from __future__ import annotations

import asyncio

import pytest

from soldout.domain.errors import NotFound, Unauthorized
from soldout.domain.sessions import INVITE_LIFETIME, digest_of
from soldout.domain.team import Invite, Role
from soldout.services import Platform
from tests.unit.test_team import HERE, PASSWORD, owner_of, shop

__all__ = ["shop"]  # (the fixture, used by name)


async def test_only_the_newest_invite_of_an_address_lets_it_in(shop: Platform) -> None:
    owner = await owner_of(shop)
    _, first = await shop.team.invite(owner, "dave@example.com", Role.STAFF)
    _, second = await shop.team.invite(owner, "Dave@Example.com", Role.READ_ONLY)
    assert [i.role for i in await shop.team.invites()] == [Role.READ_ONLY]
    with pytest.raises(NotFound):
        await shop.team.accept(first, "Dave", PASSWORD, HERE)
    dave, _ = await shop.team.accept(second, "Dave", PASSWORD, HERE)
    assert dave.role is Role.READ_ONLY
    assert await shop.team.invites() == []


async def test_a_removed_member_cannot_come_back_through_an_old_link(shop: Platform) -> None:
    owner = await owner_of(shop)
    _, key = await shop.team.invite(owner, "eve@example.com", Role.STAFF)
    eve, _ = await shop.team.accept(key, "Eve", PASSWORD, HERE)
    # a second invite of the address, left open by a version before one invite an address
    now = shop.clock.now()
    old = "an-old-link-key-of-eve"
    left = Invite(digest_of(old), eve.email, Role.OWNER, owner.actor, now, now + INVITE_LIFETIME)
    await shop.store.team.invite(left)

    await shop.team.remove(owner, eve.id)
    assert await shop.team.invites() == []
    for link in (key, old):
        with pytest.raises(NotFound):
            await shop.team.accept(link, "Eve Again", PASSWORD, HERE)
    with pytest.raises(Unauthorized):
        await shop.team.sign_in(eve.email, PASSWORD, HERE)


async def test_two_invites_of_one_address_at_once_leave_one_link(shop: Platform) -> None:
    owner = await owner_of(shop)
    (_, first), (_, second) = await asyncio.gather(
        shop.team.invite(owner, "sam@example.com", Role.STAFF),
        shop.team.invite(owner, "sam@example.com", Role.READ_ONLY),
    )
    assert len(await shop.team.invites()) == 1
    assert [await shop.team.invite_for(k) is not None for k in (first, second)] == [False, True]
    cancelled = [e for e in await shop.store.audit.recent(10) if e.action == "team.invite_cancel"]
    assert [(e.subject, e.detail["why"]) for e in cancelled] == [
        ("sam@example.com", "invited again")
    ]
