"""Every launch's book, by launch id, and who may see which.

Opened for each launch on start and as the maker adds one; forgotten with a removed
rehearsal. Pages and the claim path read a book from here; its counters move only
through the `Allocator`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from soldout.domain.claims import Claim
from soldout.domain.errors import NotFound
from soldout.domain.launches import Launch
from soldout.domain.products import Product
from soldout.domain.rehearsals import REHEARSAL_FAN_MARK
from soldout.engine.book import LaunchBook
from soldout.engine.rehearsals import RehearsalMarks

__all__ = ["LaunchBooks"]


class LaunchBooks:
    def __init__(self, rehearsals: RehearsalMarks) -> None:
        self._books: dict[str, LaunchBook] = {}
        self._rehearsals = rehearsals
        # told of each launch added or changed, and of each fan who reserved (with
        # several workers, the owner writes them to Redis: `scaleout.owner`)
        self.watchers: list[Callable[[LaunchBook], None]] = []
        self.reserve_watchers: list[Callable[[LaunchBook, str], None]] = []

    @property
    def by_id(self) -> Mapping[str, LaunchBook]:
        """Every book by launch id (read only; for the claim path and the in-process
        allocator, which look a book up once per claim)."""
        return self._books

    def open(self, launch: Launch, product: Product) -> LaunchBook:
        book = self._books[launch.id] = LaunchBook.open(launch, product)
        self.changed(book)
        return book

    def changed(self, book: LaunchBook) -> None:
        """The launch's times, rules, batch or product changed: its watchers are told."""
        for watcher in self.watchers:
            watcher(book)

    def reserved(self, book: LaunchBook, fan_id: str) -> None:
        for watcher in self.reserve_watchers:
            watcher(book, fan_id)

    def get(self, launch_id: str) -> LaunchBook:
        book = self._books.get(launch_id)
        if book is None:
            raise NotFound("launch")
        return book

    def public(self, launch_id: str, fan_id: str | None = None) -> LaunchBook:
        """A launch as `fan_id` (None: anyone) may see it: a draft does not exist for fans,
        nor a rehearsal's launch for anyone but the fans that run made up (and a real
        launch not for them: `domain.rehearsals.may_see`)."""
        book = self.get(launch_id)
        launch = book.launch
        if not launch.published or (
            # (the check itself only for a rehearsal's launch or fan: the claim path)
            (launch.rehearsal is not None or (fan_id or "").startswith(REHEARSAL_FAN_MARK))
            and not self._rehearsals.sees(fan_id, launch)
        ):
            raise NotFound("launch")
        return book

    def all(self) -> list[LaunchBook]:
        return list(self._books.values())

    def product_changed(self, product: Product) -> None:
        """The maker edited a product: its launches show the new names and prices (a claim
        keeps the price it was made at)."""
        for book in self._books.values():
            if book.product.id == product.id:
                book.product = product
                self.changed(book)

    def describe(self, claim: Claim) -> str:
        """What the claim buys, in words a payment page shows: "Phone 2 (Black, 128 GB)"."""
        product = self.get(claim.launch_id).product
        sku = product.sku(claim.sku)
        each = f"{product.name} ({sku.name if sku else claim.sku})"
        return each if claim.quantity == 1 else f"{claim.quantity} x {each}"

    def forget(self, launch_ids: Collection[str]) -> None:
        for launch_id in launch_ids:
            del self._books[launch_id]
