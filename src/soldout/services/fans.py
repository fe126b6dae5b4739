"""Use cases of the fan: register, reserve, see orders."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from soldout.clock import Clock
from soldout.domain.claims import Order, OrderEvent, OrderStatus
from soldout.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from soldout.domain.fans import Fan, Reservation, normalise_email
from soldout.domain.notifications import Notification
from soldout.engine import SaleEngine
from soldout.engine.book import LaunchBook
from soldout.ids import new_id, new_referral_code
from soldout.services.tokens import TokenSigner
from soldout.store.ports import Store

__all__ = ["Fans"]


class Fans:
    def __init__(self, store: Store, clock: Clock, tokens: TokenSigner, engine: SaleEngine) -> None:
        self._store = store
        self._clock = clock
        self._tokens = tokens
        self._engine = engine
        self._registered: list[Callable[[Fan], None]] = []
        self._entry_check: Callable[[LaunchBook, str], None] | None = None

    def check_entries_with(self, check: Callable[[LaunchBook, str], None]) -> None:
        """`check(book, fan_id)` raises if the fan may not reserve (enter a draw)."""
        self._entry_check = check

    def on_register(self, listener: Callable[[Fan], None]) -> None:
        self._registered.append(listener)

    async def register(
        self,
        email: str,
        name: str,
        referral_code: str | None = None,
        address: str | None = None,
        phone: str | None = None,
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
            address=(address or "").strip() or None,
            phone=(phone or "").strip() or None,
        )
        await self._store.fans.add(fan)
        for listener in self._registered:
            listener(fan)
        return fan, self._tokens.fan_token(fan.id)

    async def reserve(
        self, launch_id: str, fan_id: str, sku: str | None
    ) -> tuple[Reservation, bool]:
        """A fan's "I want one". In a draw it is the fan's entry, for one SKU."""
        book = self._engine.public_book(launch_id)
        launch = book.launch
        if sku is not None and sku not in book.stock:
            raise InvalidInput(f"this launch does not sell SKU {sku!r}", field="sku")
        if launch.is_draw and sku is None:
            if len(book.stock) > 1:
                raise InvalidInput("a draw entry names the SKU it is for", field="sku")
            sku = next(iter(book.stock))
        if self._entry_check is not None:
            self._entry_check(book, fan_id)
        cutoff = launch.rules.registered_before
        if cutoff is not None and fan_id not in book.reservations:
            fan = await self._store.fans.get(fan_id)
            if fan is None or fan.created_at >= cutoff:
                raise Forbidden(
                    f"this launch is for fans registered before {cutoff.isoformat()}"
                ).with_code("account_too_new")
        return await self._engine.reserve(launch_id, fan_id, sku)

    def orders(self, fan_id: str) -> list[Order]:
        """The fan's orders, newest first."""
        mine = [o for o in self._engine.orders.all() if o.fan_id == fan_id]
        return sorted(mine, key=lambda o: (o.paid_at, o.id), reverse=True)

    def order(self, fan_id: str, order_id: str) -> Order:
        """The fan's own order; another fan's order is indistinguishable from a missing one."""
        order = self._engine.orders.get(order_id)
        if order is None or order.fan_id != fan_id:
            raise NotFound("order")
        return order

    async def history(self, order: Order) -> Sequence[OrderEvent]:
        return await self._store.orders.events(order.id)

    async def cancel_order(self, fan_id: str, order_id: str) -> Order:
        """A fan takes back an order that has not shipped: refunded in full, unit back on
        sale. A shipped order is for the maker to refund."""
        order = self.order(fan_id, order_id)
        if order.status is OrderStatus.SHIPPED:
            raise Conflict(
                "this order has shipped; ask the maker for a refund", field=None
            ).with_code("already_shipped")
        if order.status is OrderStatus.REFUNDED:
            return order
        return await self._engine.refund_order(order, "cancelled by the fan", unshipped_only=True)

    async def notifications(self, fan_id: str, limit: int) -> Sequence[Notification]:
        return await self._store.notifications.for_fan(fan_id, limit)
