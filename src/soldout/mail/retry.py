"""When to try a deferred e-mail again, and when to stop.

Exponential backoff with "equal jitter": the n-th retry waits between half and all of
`first * 2**(n-1)`, capped at `cap`. The jitter spreads a crowd of messages deferred
together (a relay's rate limit hit by 100,000 reminders) so they do not all come back at
the same second; the floor of half keeps the wait growing. With the defaults (1 minute,
cap 1 hour, 8 tries) a message is given up 61 to 123 minutes after its first try.

    policy = RetryPolicy()
    policy.next_try(attempts=1, now=now)   # now + 30..60 s; None once attempts == 8
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 8  # tries in all, the first included
    first: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=1)
    random: Callable[[], float] = field(default=random.random, repr=False)  # in [0, 1)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not timedelta(0) < self.first <= self.cap:
            raise ValueError("0 < first <= cap")

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th try failed (attempts >= 1)."""
        full: timedelta = min(self.cap, self.first * 2 ** min(attempts - 1, 32))
        jitter: float = self.random()
        return full / 2 + full / 2 * jitter

    def next_try(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` tries, or None: give up."""
        if attempts >= self.attempts:
            return None
        return now + self.delay(attempts)
