"""A virtual waiting room for one launch: a fair queue, admitted at a set rate.

Everyone who joins before `opens_at` is drawn into a random order at the opening (sorted
by HMAC-SHA256(seed, fan_id), so arriving early or fast buys nothing); later arrivals
queue behind them in arrival order. From `opens_at` the room admits `burst` fans at once
and then `rate_per_second`; an admitted fan gets a short-lived signed token that the claim
path checks with `verify_admission`, without the room's memory.

Pure and lazy: time comes in as `now`, and each call first catches up with the admissions
due since the last one, each at its own instant: the k-th admission happens when the k-th
unit of budget accrues (or when its fan joined, if later), and a place whose fan was not
seen for `abandon_after` at that instant is skipped without using budget. So what happens
does not depend on how often the room is asked.

    room = WaitingRoom("launch_1", opens_at, 50.0, seed, signer_key=key)
    room.join("fan_1", now)
    view = room.view("fan_1", now)  # position and wait; a token once admitted
"""

from __future__ import annotations

import base64
import hmac
import math
import zlib
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from hashlib import sha256
from typing import Literal

from soldout.domain.errors import Forbidden

__all__ = ["AdmissionRequired", "RoomSize", "RoomView", "WaitingRoom", "verify_admission"]

POLL_MIN = 2.0
POLL_MAX = 10.0
_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_COMPACT_AFTER = 1 << 16
_RANK = 32  # bytes of HMAC-SHA256 before the fan id in a queue entry
_LATE = bytes(_RANK)

RoomState = Literal["waiting", "admitted", "not_in_room"]


class AdmissionRequired(Forbidden):
    """No valid admission token: `admission_required` (none given), `admission_expired`,
    or `admission_invalid` (malformed, tampered, or for another fan or launch)."""

    code = "admission_required"
    default_message = "this needs an admission token from the waiting room"
    _messages = {
        "admission_expired": "the admission has expired; join the waiting room again",
        "admission_invalid": "the admission token is not valid for this fan and launch",
    }

    def __init__(self, code: str = "admission_required") -> None:
        super().__init__(self._messages.get(code))
        self.code = code


@dataclass(frozen=True, slots=True)
class RoomView:
    """What a fan sees. Before the draw at opening, `position` is None and `ahead` is the
    expected number ahead (half the others); after it, `position` is exact."""

    state: RoomState
    position: int | None
    ahead: int
    estimated_wait_seconds: float
    poll_after_seconds: float
    admission_token: str | None = None
    admission_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RoomSize:
    waiting: int
    admitted: int  # admissions not yet expired
    admitted_total: int
    abandoned_total: int  # places skipped because their fan had gone


@dataclass(slots=True)
class _Place:
    seq: int  # absolute place in the queue; -1 if joined before opening (see `rank`)
    queued_us: int  # times are microseconds after `opens_at`
    last_seen_us: int
    rank: bytes = b""  # HMAC-SHA256(seed, fan_id) + fan_id, for who joined before opening
    admitted_us: int | None = None


class WaitingRoom:
    """One launch's queue. `join` is O(1), `view` O(log n) (plus, for both, the admissions
    that fell due since the last call); the draw sorts the early crowd once, at the first
    call after `opens_at` (about 0.5 s for a million fans). `bank` caps the unused
    admissions kept while nobody waits (None keeps them all: by any time t, exactly
    `burst + floor(rate * (t - opens_at))` may have gone in); `on_admit(fan_id, at)`
    hears each admission, `on_skip(fan_id, joined_at)` each place skipped."""

    def __init__(
        self,
        launch_id: str,
        opens_at: datetime,
        rate_per_second: float,
        seed: bytes,
        *,
        signer_key: bytes,
        burst: int = 0,
        abandon_after: timedelta = timedelta(seconds=30),
        admission_ttl: timedelta = timedelta(seconds=120),
        bank: int | None = None,
        on_admit: Callable[[str, datetime], None] | None = None,
        on_skip: Callable[[str, datetime], None] | None = None,
    ) -> None:
        if opens_at.tzinfo is None:
            raise ValueError("opens_at must carry a time zone")
        if not (math.isfinite(rate_per_second) and rate_per_second > 0):
            raise ValueError("rate_per_second must be a positive number")
        if burst < 0 or (bank is not None and bank < 0):
            raise ValueError("burst and bank cannot be negative")
        if abandon_after <= timedelta(seconds=POLL_MAX):
            raise ValueError(f"abandon_after must exceed the longest poll ({POLL_MAX:g} s)")
        if admission_ttl <= timedelta(0):
            raise ValueError("admission_ttl must be positive")
        if len(signer_key) < 32 or not seed:
            raise ValueError("signer_key must be at least 32 bytes and seed not empty")
        self.launch_id = launch_id
        self.opens_at = opens_at
        self.rate_per_second = float(rate_per_second)
        rate = Fraction(repr(self.rate_per_second))  # 0.1 is 1/10, as meant
        self._rate_num, self._rate_den_us = rate.numerator, rate.denominator * 1_000_000
        self._rank_mac = _hmac_sha256(seed)
        self._sign_mac = _macs(signer_key)
        self._burst = burst
        self._bank = bank
        self._abandon_us = abandon_after // _US
        self._ttl_us = admission_ttl // _US
        self._opens_epoch_us = (opens_at - _EPOCH) // _US
        self._on_admit = on_admit
        self._on_skip = on_skip  # (fan, when they took the place): skipped, gone too long
        self._fans: dict[str, _Place] = {}
        self._early: list[bytes] = []  # ranks of those who joined before opening
        self._drawn = False
        # places from seq `_base` on: the drawn ones sorted by rank, then the later ones as
        # `_LATE` + fan id (utf-8)
        self._queue: list[bytes] = []
        self._n_drawn = 0
        self._base = 0
        self._head = 0  # seq of the first place neither admitted nor skipped
        self._used = 0  # budget units spent (admissions, and any forfeited by `bank`)
        self._live: deque[tuple[int, str]] = deque()  # (expires_us, fan) by expiry
        self._admitted_total = 0
        self._abandoned_total = 0
        self._now_us = -(1 << 62)
        self._quiet_count = 0  # the first admissions, told by another process (`restore`)

    @property
    def admission_ttl(self) -> timedelta:
        """How long an admission lasts (its token's lifetime): what a notice of it says."""
        return timedelta(microseconds=self._ttl_us)

    def join(self, fan_id: str, now: datetime) -> bool:
        """Take a place at the back (drawn at opening if before it); if already in the
        room, only note that the fan is still here. True if a new place was taken."""
        now_us = self._advance(now)
        place = self._fans.get(fan_id)
        if place is not None:
            place.last_seen_us = now_us
            return False
        self._place(fan_id, now_us)
        return True

    def _place(self, fan_id: str, now_us: int) -> None:
        if not self._drawn:
            raw = fan_id.encode()
            rank = self._rank_mac(raw) + raw
            self._fans[fan_id] = _Place(-1, now_us, now_us, rank)
            self._early.append(rank)
        else:
            self._fans[fan_id] = _Place(self._base + len(self._queue), now_us, now_us)
            self._queue.append(_LATE + fan_id.encode())

    @property
    def admitted_total(self) -> int:
        """Admissions made so far (each `on_admit` hears the count it brings it to)."""
        return self._admitted_total

    def restore(self, places: Sequence[tuple[str, datetime]], seen: datetime, told: int) -> None:
        """Rebuild the room another process held for this launch (that process gone: a new
        owner) from every place taken in it that was not skipped: each (fan, when they
        took it). Replayed in time order, as `join` took them, each fan counted as seen at
        `seen`, so the outage makes no one lose their turn; the skipped places left out
        used no admission, so everyone else is let in at the same instants. The first
        `told` admissions, which the other process told, are not told again (`on_admit`).
        Call before anything else is asked of the room."""
        seen_us = (seen - self.opens_at) // _US
        self._quiet_count = told
        for fan_id, joined in sorted(places, key=lambda p: (p[1], p[0])):
            at_us = self._advance(joined)
            if fan_id not in self._fans:
                self._place(fan_id, at_us)
            self._fans[fan_id].last_seen_us = max(seen_us, at_us)

    def view(self, fan_id: str, now: datetime) -> RoomView:
        """Where the fan stands (and that the fan is still here)."""
        now_us = self._advance(now)
        place = self._fans.get(fan_id)
        if place is None:
            return RoomView("not_in_room", None, 0, 0.0, POLL_MAX)
        place.last_seen_us = now_us
        if place.admitted_us is not None:
            expires_us = place.admitted_us + self._ttl_us
            expires = str(self._opens_epoch_us + expires_us)
            token = f"{expires}.{_signature(self._sign_mac, self.launch_id, fan_id, expires)}"
            expires_at = self.opens_at + timedelta(microseconds=expires_us)
            return RoomView("admitted", None, 0, 0.0, POLL_MAX, token, expires_at)
        if not self._drawn:
            ahead = (len(self._early) - 1) // 2
            wait = ahead / self.rate_per_second - now_us / 1e6
            return RoomView("waiting", None, ahead, wait, _poll_after(wait, fan_id))
        ahead = self._seq(place) - self._head
        wait = ahead / self.rate_per_second
        return RoomView("waiting", ahead + 1, ahead, wait, _poll_after(wait, fan_id))

    def size(self, now: datetime) -> RoomSize:
        self._advance(now)
        waiting = self._base + len(self._queue) - self._head
        if not self._drawn:
            waiting = len(self._early)
        return RoomSize(waiting, len(self._live), self._admitted_total, self._abandoned_total)

    def _advance(self, now: datetime) -> int:
        now_us = max((now - self.opens_at) // _US, self._now_us)  # time never runs back
        self._now_us = now_us
        if now_us >= 0:
            if not self._drawn:
                self._draw()
            self._admit_due(now_us)
            self._expire(now_us)
        return now_us

    def _draw(self) -> None:
        ranks, self._early = self._early, []
        ranks.sort()  # so by HMAC(seed, fan_id), then (never seen) by fan id
        self._queue, self._n_drawn, self._drawn = ranks, len(ranks), True

    def _seq(self, place: _Place) -> int:
        if place.seq >= 0:
            return place.seq
        drawn_left = max(0, self._n_drawn - self._base)
        return self._base + bisect_left(self._queue, place.rank, 0, drawn_left)

    def _admit_due(self, now_us: int) -> None:
        queue, fans = self._queue, self._fans
        while self._head < self._base + len(queue):
            fan_id = queue[self._head - self._base][_RANK:].decode()
            place = fans[fan_id]
            if self._bank is not None:
                self._used = max(self._used, self._budget(place.queued_us) - self._bank)
            at = max(self._unit_us(self._used), place.queued_us)
            if at > now_us:
                break
            self._head += 1
            if at - place.last_seen_us > self._abandon_us:
                del fans[fan_id]
                self._abandoned_total += 1
                if self._on_skip is not None:
                    self._on_skip(fan_id, self.opens_at + timedelta(microseconds=place.queued_us))
                continue
            place.admitted_us = at
            self._used += 1
            self._admitted_total += 1
            self._live.append((at + self._ttl_us, fan_id))
            if self._on_admit is not None and self._admitted_total > self._quiet_count:
                self._on_admit(fan_id, self.opens_at + timedelta(microseconds=at))
        done = self._head - self._base
        if done > _COMPACT_AFTER and done * 2 > len(queue):
            del queue[:done]
            self._base = self._head

    def _expire(self, now_us: int) -> None:
        live, fans = self._live, self._fans
        while live and live[0][0] <= now_us:
            _, fan_id = live.popleft()
            del fans[fan_id]  # an admitted fan keeps its place until it expires

    def _budget(self, at_us: int) -> int:
        """Admissions allowed by `at_us`: burst + floor(rate * seconds since opening)."""
        if at_us < 0:
            return 0
        return self._burst + self._rate_num * at_us // self._rate_den_us

    def _unit_us(self, k: int) -> int:
        """The first instant at which `_budget` exceeds k."""
        if k < self._burst:
            return 0
        return -(-(k + 1 - self._burst) * self._rate_den_us // self._rate_num)


def verify_admission(
    token: str | None, fan_id: str, launch_id: str, now: datetime, signer_key: bytes
) -> None:
    """Raise `AdmissionRequired` unless `token` admits `fan_id` to `launch_id` at `now`."""
    if not token:
        raise AdmissionRequired()
    expires, dot, signature = token.partition(".")
    if not (dot and 0 < len(expires) <= 20 and expires.isascii() and expires.isdigit()):
        raise AdmissionRequired("admission_invalid")
    expected = _signature(_macs(signer_key), launch_id, fan_id, expires)
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise AdmissionRequired("admission_invalid")
    if (now - _EPOCH) // _US >= int(expires):
        raise AdmissionRequired("admission_expired")


def _signature(mac: _Mac, launch_id: str, fan_id: str, expires: str) -> str:
    message = f"admission:{len(launch_id)}:{launch_id}:{len(fan_id)}:{fan_id}:{expires}"
    return base64.urlsafe_b64encode(mac(message.encode())[:24]).rstrip(b"=").decode()


_Mac = Callable[[bytes], bytes]
_MACS: dict[bytes, _Mac] = {}


def _macs(key: bytes) -> _Mac:
    """The HMAC of `key`, set up once per key (a handful of keys per process)."""
    mac = _MACS.get(key)
    if mac is None:
        if len(_MACS) >= 16:
            _MACS.clear()
        mac = _MACS[key] = _hmac_sha256(key)
    return mac


def _hmac_sha256(key: bytes) -> _Mac:
    """HMAC-SHA256 (RFC 2104) with both padded keys hashed once: about 3x as fast per
    message as `hmac.digest`, which sets the key up on every call."""
    if len(key) > 64:
        key = sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = sha256(bytes(b ^ 0x36 for b in key))
    outer = sha256(bytes(b ^ 0x5C for b in key))

    def mac(message: bytes) -> bytes:
        i = inner.copy()
        i.update(message)
        o = outer.copy()
        o.update(i.digest())
        return o.digest()

    return mac


def _poll_after(wait_seconds: float, fan_id: str) -> float:
    """A quarter of the wait, within [2, 10] s, spread by up to 20 % per fan so that a
    crowd does not poll in step."""
    spread = 0.8 + 0.2 * (zlib.crc32(fan_id.encode()) & 0xFF) / 255
    return min(POLL_MAX, max(POLL_MIN, min(POLL_MAX, wait_seconds / 4) * spread))
