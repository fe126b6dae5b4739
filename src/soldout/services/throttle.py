"""Throttles on the doors: failed admin sign-ins per address and per account, and fan
sign-ups and sign-in link requests per address. The gate's token buckets
(`services.ratelimit`), on the platform's clock so that tests move time.

    throttle.begin_sign_in(address, account)   # counts it; RateLimited when out of tries
    throttle.sign_in_worked(address, account)  # the password was right: it does not count
    throttle.sign_up(address)                  # RateLimited past the address's allowance

A failed sign-in is counted, a good one is not: a person who types their password right
is never slowed, a guesser gets `failed_per_address` tries and then one every half minute per
address (`failed_per_account`, then one a minute, per account, whatever the address). An
attacker can keep one account's password sign-in slow by failing on purpose; the owner
can still sign in with the bootstrap token, which is throttled per address only
(docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from soldout.clock import Clock
from soldout.domain.errors import RateLimited
from soldout.services.ratelimit import TokenBuckets

__all__ = ["Throttle", "ThrottleSettings"]


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    failed_per_address: int = 10  # failed sign-ins in a row, then one per 30 s
    failed_per_account: int = 5  # failed sign-ins in a row, then one per 60 s
    # sign-ups and link requests in a row, then one per 30 s; 0: no limit (what a load test
    # from one address needs). `soldout serve` sets it from SOLDOUT_SIGNUP_LIMIT (20).
    signups_per_address: int = 0


class Throttle:
    def __init__(self, clock: Clock, settings: ThrottleSettings | None = None) -> None:
        self._clock = clock
        self.settings = settings = settings or ThrottleSettings()
        self._addresses = TokenBuckets(1 / 30, max(1, settings.failed_per_address))
        self._accounts = TokenBuckets(1 / 60, max(1, settings.failed_per_account))
        self._signups = (
            TokenBuckets(1 / 30, settings.signups_per_address)
            if settings.signups_per_address > 0
            else None
        )

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def begin_sign_in(self, address: str | None, account: str | None) -> None:
        """Count a sign-in attempt now, before its password is even looked at (so that
        many sent at once cannot all slip through while the first is being checked), or
        `RateLimited` while the address or the account has no tries left. `account` None:
        the bootstrap token or an invite link, counted per address only (a token is too
        long to guess, and one shared bucket would let anyone lock everyone out)."""
        now = self._now()
        wait = max(
            self._addresses.waiting(address, now) if address else 0.0,
            self._accounts.waiting(account, now) if account else 0.0,
        )
        if wait > 0:
            raise RateLimited(wait)
        if address:
            self._addresses.take(address, now)
        if account:
            self._accounts.take(account, now)

    def sign_in_worked(self, address: str | None, account: str | None) -> None:
        """The attempt succeeded: it does not count."""
        if address:
            self._addresses.refund(address)
        if account:
            self._accounts.refund(account)

    def sign_up(self, address: str | None) -> None:
        """A fan account made, or a sign-in link asked for, from `address`."""
        if self._signups is not None and address:
            wait = self._signups.take(address, self._now())
            if wait:
                raise RateLimited(wait)
