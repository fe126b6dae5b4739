"""The maker's changes to a launch: adding one, and changing its times, its batch, its
pause or (cancelling it) releasing every hold and telling everyone who took part; an
opening moved before the sale opened is told to every fan who reserved.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.claims import Claim, ClaimState, Order, OrderStatus
from soldout.domain.errors import InvalidInput
from soldout.domain.launches import Launch
from soldout.domain.notifications import Notification
from soldout.domain.products import Product
from soldout.engine.book import LaunchBook
from soldout.engine.draws import DrawDesk
from soldout.engine.launch_books import LaunchBooks
from soldout.engine.ledger import ClaimLedger
from soldout.engine.releases import Releases
from soldout.ids import new_id
from soldout.store.ports import Store

__all__ = ["LaunchDesk"]


class LaunchDesk:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        books: LaunchBooks,
        ledger: ClaimLedger,
        releases: Releases,
        draws: DrawDesk,
        orders_of: Callable[[str], list[Order]],
        watch: Callable[[Launch], None],
    ) -> None:
        """`orders_of(launch_id)`: the launch's paid orders (their fans are told apart);
        `watch(launch)`: a launch that closes leaves memory a while after (`Archive`)."""
        self._store = store
        self._clock = clock
        self._books = books
        self._ledger = ledger
        self._releases = releases
        self._draws = draws
        self._orders_of = orders_of
        self._watch = watch

    async def add(self, launch: Launch, product: Product) -> LaunchBook:
        if launch.is_draw:
            launch = launch.with_changes(draw_commitment=await self._draws.commit(launch.id))
        await self._store.launches.add(launch)
        book = self._books.open(launch, product)
        if launch.is_draw:
            self._draws.draw_at(launch.sale_opens_at, launch.id)
        self._watch(launch)
        return book

    async def change(self, launch: Launch) -> LaunchBook:
        """Apply new times, a larger batch or a cancellation (which releases every hold).
        The launch is resident: the caller revives an archived one before it reads the
        launch it changes (`Archive.revive`, as `Catalog.change_launch` does)."""
        book = self._books.get(launch.id)
        for sku, qty in launch.batch.items():  # check every SKU before changing any
            if qty < book.stock[sku].batch:
                raise InvalidInput(
                    "a batch can grow but not shrink once the launch exists", field=f"batch.{sku}"
                )
        before = book.launch
        now = self._clock.now()
        if before.drawn_at is not None and launch.sale_opens_at != before.sale_opens_at:
            raise InvalidInput("a drawn launch cannot move its opening", field="sale_opens_at")
        for sku, qty in launch.batch.items():
            book.stock[sku].grow(qty)
        book.launch = launch
        self._books.changed(book)
        self._watch(launch)
        if launch.is_draw and launch.drawn_at is None and launch.cancelled_at is None:
            self._draws.draw_at(launch.sale_opens_at, launch.id)  # moved, published
        if before.paused_at is not None and launch.paused_at is None:
            for sku in book.stock:  # units that came back while paused
                self._draws.unit_returned(book, sku)
        released: list[Claim] = []
        if launch.cancelled_at is not None:
            released = [c for c in self._ledger.of_launch(launch.id) if c.is_held]
            for claim in released:
                self._releases.close(claim, ClaimState.CANCELLED, launch.cancelled_at)
        moved = _moved_notes(book, before, now) if _opening_moved(before, launch, now) else []
        # One transaction: never a cancelled launch whose holds are still on record as
        # held, nor a cancelled or moved one whose fans were not told (nor told twice).
        async with self._store.transaction() as tx:
            tx.launches.update(launch)
            if released:
                at = launch.cancelled_at or self._clock.now()
                tx.claims.release_many([c.id for c in released], ClaimState.CANCELLED, at)
            if launch.cancelled_at is not None:
                tx.notifications.add_many(
                    self._cancelled_notes(book, launch.cancelled_at, released)
                )
            if moved:
                tx.notifications.add_many(moved)
        return book

    def _cancelled_notes(
        self, book: LaunchBook, at: datetime, released: list[Claim]
    ) -> list[Notification]:
        """Everyone who took part is told: who has an order still to ship, that it stands
        (and may be cancelled); who held a unit, that it was released and nothing was
        charged; who only reserved (or entered the draw), that the reservation went with
        the launch. A fan whose order has shipped is told nothing (nothing changes for
        them)."""
        launch = book.launch
        orders = self._orders_of(launch.id)
        buyers = {o.fan_id for o in orders if o.in_queue}
        shipped = {o.fan_id for o in orders if o.status is OrderStatus.SHIPPED}
        holders = {c.fan_id for c in released} - buyers - shipped
        reserved = set(book.reservations) - holders - buyers - shipped
        title = repr(launch.title)
        kept = "your entry in its draw" if launch.is_draw else "your reservation"

        def note(fan_id: str, message: str, data: dict[str, object]) -> Notification:
            data = {"launch_id": launch.id, **data}
            return Notification(new_id("ntf"), fan_id, "launch_cancelled", message, at, data)

        return (
            [
                note(
                    fan_id,
                    f"The launch {title} was cancelled; any unit you held was released and"
                    " nothing was charged for it.",
                    {"bought": False, "held": True},
                )
                for fan_id in sorted(holders)
            ]
            + [
                note(
                    fan_id,
                    f"The launch {title} was cancelled, and {kept} with it. Nothing was charged.",
                    {"bought": False, "held": False, "draw": launch.is_draw},
                )
                for fan_id in sorted(reserved)
            ]
            + [
                note(
                    fan_id,
                    f"The launch {title} was cancelled. Your paid order stands: it ships as"
                    " planned unless you cancel it for a full refund.",
                    {"bought": True},
                )
                for fan_id in sorted(buyers)
            ]
        )


def _opening_moved(before: Launch, after: Launch, now: datetime) -> bool:
    """Whether fans who reserved are told of a new opening: only while the sale has not
    opened, for a real launch that goes on (a cancellation tells them that instead)."""
    return (
        after.sale_opens_at != before.sale_opens_at
        and now < before.sale_opens_at
        and after.published
        and after.cancelled_at is None
        and after.rehearsal is None
    )


def _moved_notes(book: LaunchBook, before: Launch, now: datetime) -> list[Notification]:
    """One notice to each fan holding a reservation (an entry, in a draw), in the order
    they reserved; each move is its own notice, naming the time it moved from."""
    launch = book.launch
    was, will = before.sale_opens_at, launch.sale_opens_at  # (in UTC: `Launch` keeps them so)
    what, kept = ("The draw for", "entry") if launch.is_draw else ("The opening of", "reservation")
    message = (
        f"{what} {launch.title!r} moved from {was:%Y-%m-%d %H:%M} UTC to"
        f" {will:%Y-%m-%d %H:%M} UTC; your {kept} stands."
    )
    data = {
        "launch_id": launch.id,
        "before": was.isoformat(),
        "after": will.isoformat(),
        "draw": launch.is_draw,
    }
    return [
        Notification(new_id("ntf"), fan_id, "opening_moved", message, now, dict(data))
        for fan_id in book.reservations
    ]
