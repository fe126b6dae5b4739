"""Use cases of the fan: register, reserve, see orders."""

from __future__ import annotations

from collections.abc import Sequence

from soldout.clock import Clock
from soldout.domain.claims import Order
from soldout.domain.errors import InvalidInput, NotFound
from soldout.domain.fans import Fan, normalise_email
from soldout.ids import new_id, new_referral_code
from soldout.services.tokens import TokenSigner
from soldout.store.ports import Store

__all__ = ["Fans"]


class Fans:
    def __init__(self, store: Store, clock: Clock, tokens: TokenSigner) -> None:
        self._store = store
        self._clock = clock
        self._tokens = tokens

    async def register(
        self, email: str, name: str, referral_code: str | None = None
    ) -> tuple[Fan, str]:
        """Create a fan and return it with its bearer token."""
        email = normalise_email(email)
        if not name.strip():
            raise InvalidInput("a name is required", field="name")
        referrer = None
        if referral_code:
            referrer = await self._store.fans.by_referral_code(referral_code)
            if referrer is None:
                raise InvalidInput("no fan has this referral code", field="referral_code")
        fan = Fan(
            id=new_id("fan"),
            email=email,
            name=name.strip(),
            referral_code=new_referral_code(),
            referred_by=referrer.id if referrer else None,
            created_at=self._clock.now(),
        )
        await self._store.fans.add(fan)
        return fan, self._tokens.fan_token(fan.id)

    async def orders(self, fan_id: str) -> Sequence[Order]:
        return await self._store.claims.orders_for_fan(fan_id)

    async def order(self, fan_id: str, order_id: str) -> Order:
        found = [o for o in await self.orders(fan_id) if o.id == order_id]
        if not found:
            raise NotFound("order")
        return found[0]
