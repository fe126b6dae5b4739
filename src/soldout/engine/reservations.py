"""Reservations: a fan's "I want one" before the sale opens (an entry, in a draw).

Kept in the launch's book (`reservations` by fan, `entered` in the order made) from the
moment it is decided; its confirmation is written in the same transaction, and a repeated
request is answered once the first one's transaction is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from soldout.clock import Clock
from soldout.domain.errors import Conflict
from soldout.domain.fans import Reservation
from soldout.domain.notifications import Notification
from soldout.engine.book import LaunchBook
from soldout.engine.launch_books import LaunchBooks
from soldout.ids import new_id
from soldout.store.ports import Store

__all__ = ["ReservationDesk"]


class ReservationDesk:
    def __init__(self, store: Store, clock: Clock, books: LaunchBooks) -> None:
        self._store = store
        self._clock = clock
        self._books = books
        self._durable: dict[str, asyncio.Future[None]] = {}  # reservations being written

    def load(self, reservations: Iterable[Reservation]) -> None:
        books = self._books.by_id
        for reservation in reservations:
            book = books[reservation.launch_id]
            book.reservations[reservation.fan_id] = reservation
            book.entered.append(reservation)

    async def reserve(
        self, launch_id: str, fan_id: str, sku: str | None = None
    ) -> tuple[Reservation, bool]:
        book = self._books.public(launch_id, fan_id)
        existing = book.reservations.get(fan_id)
        if existing is not None:
            pending = self._durable.get(existing.id)
            if pending is not None:  # the first request's write: answer once it is durable
                await asyncio.shield(pending)
            return existing, False
        now = self._clock.now()
        launch = book.launch
        opens = launch.reservations_open_at
        if not launch.published or launch.cancelled_at is not None or now >= launch.sale_opens_at:
            raise Conflict("reservations for this launch are closed").with_code(
                "reservations_closed"
            )
        if opens is not None and now < opens:
            raise Conflict("reservations are not open yet").with_code("reservations_not_open")
        reservation = Reservation(new_id("res"), launch_id, fan_id, now, sku)
        book.reservations[fan_id] = reservation
        book.entered.append(reservation)
        self._books.reserved(book, fan_id)
        async with self._store.transaction() as tx:  # the confirmation with the reservation
            written = self._durable[reservation.id] = tx.durable  # a repeat waits for it
            written.add_done_callback(lambda done: self._reserved(done, book, reservation))
            tx.reservations.add(reservation)
            tx.notifications.add_many([_reserved_note(book, reservation)])
        return reservation, True

    def writing(self, launch_id: str) -> list[asyncio.Future[None]]:
        """The launch's reservations still being written."""
        book = self._books.by_id.get(launch_id)
        if book is None:
            return []
        durable = self._durable
        return [durable[r.id] for r in book.reservations.values() if r.id in durable]

    def _reserved(
        self, done: asyncio.Future[None], book: LaunchBook, reservation: Reservation
    ) -> None:
        self._durable.pop(reservation.id, None)
        failed = done.cancelled() or done.exception() is not None  # (cancelled: never queued)
        if failed and book.reservations.get(reservation.fan_id) is reservation:
            del book.reservations[reservation.fan_id]  # not on record: it never happened


def _reserved_note(book: LaunchBook, reservation: Reservation) -> Notification:
    launch = book.launch
    what = "entered the draw for" if launch.is_draw else "reserved"
    return Notification(
        new_id("ntf"),
        reservation.fan_id,
        "reservation_confirmed",
        f"You {what} {launch.title!r}. The sale opens at"
        f" {launch.sale_opens_at:%Y-%m-%d %H:%M} UTC.",
        reservation.created_at,
        {
            "launch_id": launch.id,
            "reservation_id": reservation.id,
            "sku": reservation.sku,
            "draw": launch.is_draw,
            "sale_opens_at": launch.sale_opens_at.isoformat(),
        },
    )
