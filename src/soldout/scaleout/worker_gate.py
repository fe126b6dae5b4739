"""What a worker checks before a claim, without asking the owner: the gate and the
storefront's sessions.

- **The waiting room's admission** is a token the owner's room signed with a key derived
  from the gate's secret (`services.gate.derived_key`), which is in the record: a worker
  reads the secret at start and checks the token as the owner would.
- **Proof of work** likewise: the challenge is signed with that secret, so a worker
  verifies it; that each challenge is accepted once is kept in Redis, shared by every
  process that sells (`ScaleOutClaims._spend`), the owner included.
- **Rate limits**: a fan's claims are counted in Redis by the claim's own script
  (`redis_scripts.TAKE`), shared by every worker; a client address's are this worker's
  own (N workers let one address claim up to N times its configured rate).
- **A storefront cookie** names a session whose digest is in the record: a worker reads it
  on first sight and keeps what it read for `SESSION_SECONDS`, so a browser signed out
  (or a fan erased, or signed out everywhere) stops claiming on a worker within that
  time, as a bearer token does within `worker.REFRESH * worker.SIGN_OUTS`.

What still needs the owner (a duplicate check's index of every fan's contacts, a draw's
or a rehearsal's books) is forwarded: `claims.OwnerOnly`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from soldout.api.claim_core import DecidedElsewhere
from soldout.clock import Clock
from soldout.domain.errors import RateLimited, StorageUnavailable
from soldout.domain.pow import ProofOfWork, Spent
from soldout.domain.sessions import SessionKind, digest_of
from soldout.engine.waiting_room import verify_admission
from soldout.scaleout.terms import Gated
from soldout.services.gate import POW_TTL_SECONDS, GateSettings, Passage, derived_key
from soldout.services.ratelimit import TokenBuckets
from soldout.services.tokens import TokenSigner
from soldout.store.postgresql import PostgresStore

__all__ = ["SESSION_SECONDS", "WorkerGate", "WorkerSessions"]

SESSION_SECONDS = 2.0  # a session read from the record is kept this long by a worker
MOST_SESSIONS = 100_000  # kept at once; past it, the oldest half is read again


class WorkerGate:
    """The gate on a worker (see the module)."""

    def __init__(self, settings: GateSettings, clock: Clock) -> None:
        self._clock = clock
        rate, burst = settings.address_rate, settings.address_burst
        self._addresses = TokenBuckets(rate, burst) if rate else None
        self._secret = b""
        self._admission_key = b""
        self._pow: dict[str, ProofOfWork] = {}

    def use_secret(self, secret: bytes) -> None:
        """The gate's secret, read from the record at start (the owner made it)."""
        self._secret = secret
        self._admission_key = derived_key(secret, "admission")
        self._pow.clear()

    @property
    def limits_addresses(self) -> bool:
        return self._addresses is not None

    def limit(self, fan_id: str, address: str | None) -> None:
        """The address's rate here; the fan's is counted in Redis as the claim is taken."""
        if self._addresses is not None and address:
            wait = self._addresses.take(address, time.monotonic())
            if wait:
                raise RateLimited(wait)

    def check(self, launch: object, fan_id: str, passage: Passage) -> Spent | None:
        """As `Gate.check`, for a launch a worker may sell (`terms.Gated`); the proof of
        work returned is then spent in Redis by the claim path."""
        if not isinstance(launch, Gated):  # only the owner has a launch's book
            raise DecidedElsewhere("gate")
        terms = launch.terms
        if passage.with_code or not terms.gated:
            return None
        if not self._secret:
            raise StorageUnavailable("this worker has not read the gate's secret yet; retry")
        now = self._clock.now()
        if terms.room:
            verify_admission(passage.admission, fan_id, launch.launch_id, now, self._admission_key)
        if terms.pow:
            return self._proof(launch.launch_id, terms.pow).check(
                passage.pow_token,
                passage.pow_nonce,
                fan_id,
                launch.launch_id,
                now,
                remember=False,  # spent in Redis, where every process sees it
            )
        return None

    def _proof(self, launch_id: str, difficulty: int) -> ProofOfWork:
        found = self._pow.get(launch_id)
        if found is None or found.difficulty_bits != difficulty:
            key = derived_key(self._secret, f"pow:{launch_id}")
            found = self._pow[launch_id] = ProofOfWork(key, difficulty, POW_TTL_SECONDS)
        return found


class WorkerSessions:
    """Storefront sessions as a worker knows them (see the module): `fan_of` answers from
    what was read in the last `SESSION_SECONDS`, `find` reads the record."""

    def __init__(
        self, store: Callable[[], PostgresStore], tokens: TokenSigner, clock: Clock
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._clock = clock
        self._seen: dict[str, tuple[float, str | None]] = {}  # digest -> (until, fan)

    def fan_of(self, raw: str | None) -> str | None:
        if not raw:
            return None
        seen = self._seen.get(digest_of(raw))
        if seen is None or seen[0] < time.monotonic():
            return None
        return self._live(seen[1])

    async def find(self, raw: str) -> str | None:
        digest = digest_of(raw)
        seen = self._seen.get(digest)
        if seen is not None and seen[0] >= time.monotonic():  # (a cookie read and refused)
            return self._live(seen[1])
        try:
            session = await self._store().sessions.find(digest, self._clock.now())
        except Exception as exc:
            raise StorageUnavailable("the record cannot be read; retry") from exc
        fan = session.subject if session is not None and session.kind is SessionKind.FAN else None
        if len(self._seen) >= MOST_SESSIONS:
            for old in list(self._seen)[: MOST_SESSIONS // 2]:
                del self._seen[old]
        self._seen[digest] = (time.monotonic() + SESSION_SECONDS, fan)
        return self._live(fan)

    def _live(self, fan: str | None) -> str | None:
        return None if fan is None or self._tokens.revoked(fan) else fan
