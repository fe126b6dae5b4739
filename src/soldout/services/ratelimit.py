"""Token-bucket rate limiting per key (a fan, an address), sized for the hot path.

    buckets = TokenBuckets(rate_per_second=2, burst=5)
    wait = buckets.take(key, now)     # now: monotonic seconds, passed in
    if wait:                          # refused: answer 429, Retry-After: ceil(wait)

Each bucket is kept as one number, its "theoretical arrival time" (the GCRA form of a token
bucket, with identical behaviour): the moment the bucket will be full again. A bucket is
full when that moment has passed, so a full bucket is the same as no bucket, and refill
needs no timer. Memory is bounded by `max_keys`: past it, full buckets are dropped, then
the least recently used ones (a dropped key starts again with a full bucket).
"""

from __future__ import annotations

from itertools import islice

__all__ = ["TokenBuckets"]

_NS = 1_000_000_000


class TokenBuckets:
    __slots__ = ("_full_at", "_interval", "_keep", "_limit", "_max_keys")

    def __init__(self, rate_per_second: float, burst: int, max_keys: int = 100_000) -> None:
        if not 0 < rate_per_second <= _NS:
            raise ValueError("rate_per_second must be positive, at most one per nanosecond")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._interval = round(_NS / rate_per_second)
        self._limit = burst * self._interval
        self._max_keys = max_keys
        self._keep = max(1, max_keys * 3 // 4)
        # key -> when its bucket is full again, in integer nanoseconds (exact: no rounding
        # drift however many takes); insertion order is least recently used first.
        self._full_at: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._full_at)

    def take(self, key: str, now: float) -> float:
        """Take a token: 0.0 if allowed, else the seconds until one is available."""
        now_ns = int(now * _NS)
        full_at = self._full_at.pop(key, now_ns)
        after = (full_at if full_at > now_ns else now_ns) + self._interval
        wait = after - now_ns - self._limit
        if wait > 0:
            self._full_at[key] = full_at
            return wait / _NS
        self._full_at[key] = after
        if len(self._full_at) > self._max_keys:
            self._shrink(now_ns)
        return 0.0

    def waiting(self, key: str, now: float) -> float:
        """The seconds until `take` would allow `key` again (0.0: now); takes nothing."""
        now_ns = int(now * _NS)
        full_at = self._full_at.get(key, now_ns)
        wait = max(full_at, now_ns) + self._interval - now_ns - self._limit
        return wait / _NS if wait > 0 else 0.0

    def refund(self, key: str) -> None:
        """Give back one token taken for `key` (an attempt counted up front that turned
        out not to count)."""
        full_at = self._full_at.get(key)
        if full_at is not None:
            self._full_at[key] = full_at - self._interval

    def _shrink(self, now_ns: int) -> None:
        """Drop full buckets, then the least recently used, down to 3/4 of `max_keys`:
        one pass per `max_keys / 4` new keys at worst, so O(1) amortised per call."""
        full_at = self._full_at
        for key in [key for key, moment in full_at.items() if moment <= now_ns]:
            del full_at[key]
        excess = len(full_at) - self._keep
        if excess > 0:
            for key in list(islice(full_at, excess)):
                del full_at[key]
