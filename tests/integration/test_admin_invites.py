"""The invite link's page names who invited in words the invitee understands."""

from __future__ import annotations

from tests.integration.test_admin_team import Shop, invite, make_owner, shop, with_token

__all__ = ["shop"]  # (the fixture, used by name)


async def test_an_invite_made_with_the_admin_token_names_the_shops_owner(shop: Shop) -> None:
    async with shop.browser() as owner:
        await with_token(owner)
        store = shop.platform.store
        await store.shop.put((await store.shop.get()).with_changes(name="Lamp Works"))
        path = await invite(owner, "bob@example.com", "staff")
    async with shop.browser() as bob:
        page = await bob.get(path)
    assert page.status_code == 200, page.text
    assert "by the owner of Lamp Works." in page.text
    assert "admin:" not in page.text  # no token fingerprint


async def test_an_invite_made_by_a_person_names_them(shop: Shop) -> None:
    async with shop.browser() as owner:
        await make_owner(owner)
        path = await invite(owner, "bob@example.com", "staff")
    async with shop.browser() as bob:
        page = await bob.get(path)
    assert "by Ada Lovelace &lt;ada@example.com&gt;." in page.text
