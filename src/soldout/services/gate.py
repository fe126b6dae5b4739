"""The gate before a claim: rate limits, the waiting room's admission, proof of work and
duplicate buyers, each only where the launch's rules ask for it.

None of it touches the store on a claim: buckets, rooms and the duplicate index live in
memory, tokens are signed and checked by HMAC. The checks run after the engine's replay
lookup (a retry of a claim already made is answered as before, whatever the gate says)
and before its decision. A priority code skips the waiting room and the proof of work:
it buys outside the race.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from soldout.clock import Clock
from soldout.domain.duplicates import DuplicateIndex, DuplicateRule
from soldout.domain.errors import DomainError, Forbidden, InvalidInput, RateLimited
from soldout.domain.fans import Fan
from soldout.domain.launches import Launch
from soldout.domain.pow import Challenge, ProofOfWork, Spent
from soldout.engine import SaleEngine
from soldout.engine.book import LaunchBook
from soldout.engine.waiting_room import RoomSize, RoomView, WaitingRoom, verify_admission
from soldout.services.ratelimit import TokenBuckets
from soldout.store.ports import Store

__all__ = [
    "POW_TTL_SECONDS",
    "Gate",
    "GateSettings",
    "Passage",
    "RoomJournal",
    "derived_key",
    "duplicate_buyer",
]

POW_TTL_SECONDS = 300.0


def duplicate_buyer() -> DomainError:
    """The refusal of the duplicate-buyer rule `cancel`."""
    return Forbidden(
        "this address or phone already has the most accounts this launch allows"
    ).with_code("duplicate_buyer")


def derived_key(secret: bytes, purpose: str) -> bytes:
    """The key of one purpose ("admission", "pow:LAUNCH", ...), from the gate's secret."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


class RoomJournal(Protocol):
    """The waiting rooms' places, kept where another process finds them (several workers:
    `scaleout.room_journal`): a new owner's room gives everyone their place back."""

    def joined(self, launch_id: str, fan_id: str, at: datetime) -> Awaitable[None]:
        """A fan took a place at `at`; the join is answered once this is done (written,
        or its failure logged)."""

    def pending(self, launch_id: str, fan_id: str) -> Awaitable[None] | None:
        """The fan's place while it is being written (None: written, or never taken)."""

    def skipped(self, launch_id: str, fan_id: str, joined_at: datetime) -> None:
        """The place the fan took at `joined_at` was skipped (they had gone)."""

    def told(self, launch_id: str, admissions: int) -> None:
        """The room's first `admissions` admissions were told to their fans."""

    def places(self, launch_id: str) -> tuple[list[tuple[str, datetime]], int]:
        """Every (fan, when they took the place) not skipped, and how many admissions
        were told."""


@dataclass(frozen=True, slots=True)
class GateSettings:
    fan_rate: float = 10.0  # claims per second per fan (0: no limit)
    fan_burst: int = 20
    address_rate: float = 0.0  # per client address (0: no limit; loopback load tests)
    address_burst: int = 200


@dataclass(frozen=True, slots=True)
class Passage:
    """What a claim request carries through the gate."""

    admission: str | None = None  # header Admission-Token
    pow_token: str | None = None  # header Proof-Of-Work: TOKEN:NONCE
    pow_nonce: str | None = None
    with_code: bool = False


class Gate:
    def __init__(
        self, store: Store, engine: SaleEngine, clock: Clock, settings: GateSettings
    ) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock
        self.settings = settings
        self._fans = (
            TokenBuckets(settings.fan_rate, settings.fan_burst) if settings.fan_rate > 0 else None
        )
        self._addresses = (
            TokenBuckets(settings.address_rate, settings.address_burst)
            if settings.address_rate > 0
            else None
        )
        self._secret = b""
        self._admission_key = b""
        self._rooms: dict[str, WaitingRoom] = {}
        # where the rooms' places are kept beyond this process (several workers: Redis)
        self.room_journal: RoomJournal | None = None
        # (launch, fan, admitted at, admission ends): told to the fan (e-mail notices)
        self.on_admitted: Callable[[Launch, str, datetime, datetime], None] | None = None
        self._pow: dict[str, ProofOfWork] = {}
        # One index per (limit, rehearsal run): a rehearsal's made-up fans never group
        # with real fans (nor with another run's), whatever addresses they share.
        self._duplicates: dict[tuple[int, str | None], DuplicateIndex] = {}
        self._contacts: list[tuple[str, str | None, str | None, str | None]] = []

    @property
    def limits_addresses(self) -> bool:
        return self._addresses is not None

    async def load(self) -> None:
        self._secret = await self._store.secret("gate")
        self._admission_key = self._key("admission")
        run_of = self._engine.rehearsals.run_of
        self._contacts = [
            (fan, address, phone, run_of(fan))
            for fan, address, phone in await self._store.fans.contacts()
        ]

    def _key(self, purpose: str) -> bytes:
        return derived_key(self._secret, purpose)

    # -- rate limits (before anything else on the hot path) -------------------------
    def limit(self, fan_id: str, address: str | None) -> None:
        if self._fans is None and self._addresses is None:
            return
        now = time.monotonic()
        if self._fans is not None:
            wait = self._fans.take(fan_id, now)
            if wait:
                raise RateLimited(wait)
        if self._addresses is not None and address:
            wait = self._addresses.take(address, now)
            if wait:
                raise RateLimited(wait)

    # -- the launch's own rules (after the replay lookup) ---------------------------
    def check(self, book: LaunchBook, fan_id: str, passage: Passage) -> Spent | None:
        """Raise why the claim may not pass; else the proof of work it spent, if any
        (several processes selling together share a record of those: `scaleout`)."""
        rules = book.launch.rules
        if rules.duplicate_rule is DuplicateRule.CANCEL and self.flagged(book, fan_id):
            raise duplicate_buyer()
        if passage.with_code or (rules.waiting_room_rate is None and rules.pow_difficulty is None):
            return None
        now = self._clock.now()
        if rules.waiting_room_rate is not None:
            verify_admission(passage.admission, fan_id, book.launch.id, now, self._key("admission"))
        if rules.pow_difficulty is not None:
            return self._proof(book).check(
                passage.pow_token, passage.pow_nonce, fan_id, book.launch.id, now
            )
        return None

    def check_entry(self, book: LaunchBook, fan_id: str) -> None:
        """A draw's entries are its buyers: the duplicate rule applies when they reserve."""
        if (
            book.launch.is_draw
            and book.launch.rules.duplicate_rule is DuplicateRule.CANCEL
            and self.flagged(book, fan_id)
        ):
            raise duplicate_buyer()

    # -- proof of work ---------------------------------------------------------------
    def challenge(self, book: LaunchBook, fan_id: str) -> Challenge:
        if book.launch.rules.pow_difficulty is None:
            raise InvalidInput("this launch asks for no proof of work", field=None)
        return self._proof(book).issue(fan_id, book.launch.id, self._clock.now())

    def give_back(self, launch_id: str, spent: Spent) -> None:
        """A proof `check` accepted, whose claim was then refused: the fan may use it
        again (several processes: their shared record is given back by `scaleout`)."""
        found = self._pow.get(launch_id)
        if found is not None:
            found.give_back(spent)

    def _proof(self, book: LaunchBook) -> ProofOfWork:
        difficulty = book.launch.rules.pow_difficulty or 0
        found = self._pow.get(book.launch.id)
        if found is None or found.difficulty_bits != difficulty:
            found = self._pow[book.launch.id] = ProofOfWork(
                self._key(f"pow:{book.launch.id}"), difficulty, POW_TTL_SECONDS
            )
        return found

    # -- waiting room ----------------------------------------------------------------
    def room(self, book: LaunchBook) -> WaitingRoom:
        rate = book.launch.rules.waiting_room_rate
        if rate is None:
            raise InvalidInput("this launch has no waiting room", field=None).with_code(
                "no_waiting_room"
            )
        room = self._rooms.get(book.launch.id)
        opens_at = book.launch.rules.room_opens_at(book.launch.sale_opens_at)
        if room is None or room.opens_at != opens_at:
            room = self._rooms[book.launch.id] = WaitingRoom(
                book.launch.id,
                opens_at,
                rate,
                self._key(f"room-seed:{book.launch.id}"),
                signer_key=self._admission_key,
                burst=book.launch.rules.waiting_room_burst,
                on_admit=self._admitted_to(book),
                on_skip=self._skipped_in(book.launch.id),
            )
            if self.room_journal is not None:  # the places a gone process's room held
                places, told = self.room_journal.places(book.launch.id)
                room.restore(places, self._clock.now(), told)
        return room

    def _skipped_in(self, launch_id: str) -> Callable[[str, datetime], None]:
        def skipped(fan_id: str, joined_at: datetime) -> None:
            if self.room_journal is not None:
                self.room_journal.skipped(launch_id, fan_id, joined_at)

        return skipped

    def _admitted_to(self, book: LaunchBook) -> Callable[[str, datetime], None]:
        """Each admission is handed to `on_admitted` (the platform e-mails the fan), as the
        room makes it inside a poll: a call, no await. A rehearsal's are not told."""

        def admitted(fan_id: str, at: datetime) -> None:
            room = self._rooms.get(book.launch.id)
            if self.on_admitted is not None and room is not None and not book.launch.rehearsal:
                self.on_admitted(book.launch, fan_id, at, at + room.admission_ttl)
            if self.room_journal is not None and room is not None:
                self.room_journal.told(book.launch.id, room.admitted_total)

        return admitted

    async def join(self, book: LaunchBook, fan_id: str) -> RoomView:
        """A place in the launch's room; answered once the place is written where another
        owner finds it (`room_journal`), a second join's too."""
        room = self.room(book)
        now = self._clock.now()
        took = room.join(fan_id, now)
        journal, launch_id = self.room_journal, book.launch.id
        if journal is not None:
            written = (
                journal.joined(launch_id, fan_id, now)
                if took
                else journal.pending(launch_id, fan_id)
            )
            if written is not None:
                await written  # (the room moved on meanwhile, or was opened anew)
                room, now = self.room(book), self._clock.now()
        return room.view(fan_id, now)

    def view(self, book: LaunchBook, fan_id: str) -> RoomView:
        return self.room(book).view(fan_id, self._clock.now())

    def room_size(self, book: LaunchBook) -> RoomSize | None:
        room = self._rooms.get(book.launch.id)
        return room.size(self._clock.now()) if room is not None else None

    def room_sizes(self) -> dict[str, RoomSize]:
        """Every launch's room that has been opened (launch id -> its size now)."""
        now = self._clock.now()
        return {launch_id: room.size(now) for launch_id, room in self._rooms.items()}

    # -- duplicate buyers ------------------------------------------------------------
    def registered(self, fan: Fan) -> None:
        if fan.address or fan.phone:
            self._contacts.append((fan.id, fan.address, fan.phone, fan.rehearsal))
            for (_, run), index in self._duplicates.items():
                if run == fan.rehearsal:
                    index.add(fan.id, fan.address, fan.phone)

    def contact_changed(self, fan: Fan) -> None:
        """A fan gave a new shipping address (or phone): they count there, not where they
        were (as after a restart, which reads the record)."""
        self._contacts = [c for c in self._contacts if c[0] != fan.id]
        if fan.address or fan.phone:
            self._contacts.append((fan.id, fan.address, fan.phone, fan.rehearsal))
        for (_, run), index in self._duplicates.items():
            if run == fan.rehearsal:
                index.replace(fan.id, fan.address, fan.phone)

    def flagged(self, book: LaunchBook, fan_id: str) -> bool:
        return self._index(book).flagged(fan_id)

    def group_of(self, book: LaunchBook, fan_id: str) -> set[str]:
        return self._index(book).group_of(fan_id)

    def flagged_fans(self, book: LaunchBook, fan_ids: Sequence[str]) -> list[str]:
        index = self._index(book)
        return [f for f in fan_ids if index.flagged(f)]

    def duplicates(self, limit: int) -> DuplicateIndex:
        """Real fans (no rehearsal's) as a rule with this limit groups them."""
        return self._index_of((limit, None))

    def _index(self, book: LaunchBook) -> DuplicateIndex:
        """The launch's fans as its rule counts them: real fans for a real launch, the
        run's own fans for a rehearsal's."""
        return self._index_of((book.launch.rules.duplicate_limit, book.launch.rehearsal))

    def _index_of(self, key: tuple[int, str | None]) -> DuplicateIndex:
        index = self._duplicates.get(key)
        if index is None:
            index = self._duplicates[key] = DuplicateIndex(key[0])
            for fan_id, address, phone, run in self._contacts:
                if run == key[1]:
                    index.add(fan_id, address, phone)
        return index

    # -- a removed rehearsal ---------------------------------------------------------
    def forget(self, run: str, launch_ids: Collection[str]) -> None:
        """Drop what the gate keeps of a removed rehearsal run: its launches' rooms and
        proofs, its fans' contacts and duplicate groups."""
        for launch_id in launch_ids:
            self._rooms.pop(launch_id, None)
            self._pow.pop(launch_id, None)
        self._contacts = [c for c in self._contacts if c[3] != run]
        for key in [k for k in self._duplicates if k[1] == run]:
            del self._duplicates[key]
