"""Who is signed in where: browser sessions of admins and fans, and "sign out everywhere".

    raw = await sessions.open(SessionKind.FAN, fan_id)   # the cookie's value
    sessions.fan_of(raw)                                 # -> fan_id (a dictionary lookup)
    await sessions.end(raw)                              # sign out this browser
    await sessions.sign_out_fan_everywhere(fan_id)       # every browser and every token

The record keeps each session's digest (`domain.sessions.digest_of`), never its id, so a
session survives a restart and can be ended; the live ones are held here too, loaded on
start and written through, so checking a cookie never reads the store (a fan's claim
sent from the storefront is checked this way on the hot path).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from soldout.clock import Clock
from soldout.domain.sessions import (
    ADMIN_SESSION_LIFETIME,
    FAN_SESSION_LIFETIME,
    Session,
    SessionKind,
    digest_of,
)
from soldout.services.tokens import TokenSigner
from soldout.store.ports import SessionRepository

__all__ = ["LIFETIMES", "Sessions"]

LIFETIMES = {SessionKind.ADMIN: ADMIN_SESSION_LIFETIME, SessionKind.FAN: FAN_SESSION_LIFETIME}
PRUNE_EVERY = 1000  # sessions opened between two passes that drop the expired ones


class Sessions:
    def __init__(self, store: SessionRepository, clock: Clock, tokens: TokenSigner) -> None:
        self._store = store
        self._clock = clock
        self._tokens = tokens
        self._live: dict[str, Session] = {}  # by digest
        self._opened = 0

    async def load(self) -> None:
        now = self._clock.now()
        self._live = {s.digest: s for s in await self._store.live(now)}
        for fan_id, generation in await self._store.generations():
            self._tokens.set_generation(fan_id, generation)

    def lifetime(self, kind: SessionKind) -> timedelta:
        return LIFETIMES[kind]

    async def open(self, kind: SessionKind, subject: str) -> str:
        """A new session, durable before its id is handed out; returns the id."""
        raw = secrets.token_urlsafe(32)
        now = self._clock.now()
        session = Session(digest_of(raw), kind, subject, now, now + LIFETIMES[kind])
        await self._store.add(session)
        self._live[session.digest] = session
        self._opened += 1
        if self._opened % PRUNE_EVERY == 0:
            self._live = {d: s for d, s in self._live.items() if s.live_at(now)}
        return raw

    def find(self, kind: SessionKind, raw: str | None) -> Session | None:
        """The live session of this kind that `raw` (a cookie's value) opens, or None."""
        if not raw:
            return None
        session = self._live.get(digest_of(raw))
        if session is None or session.kind is not kind:
            return None
        if not session.live_at(self._clock.now()):
            del self._live[session.digest]
            return None
        return session

    def fan_of(self, raw: str | None) -> str | None:
        """The fan a storefront cookie signs in (never an erased fan)."""
        session = self.find(SessionKind.FAN, raw)
        if session is None or self._tokens.revoked(session.subject):
            return None
        return session.subject

    async def end(self, raw: str | None) -> None:
        """Sign out the browser holding `raw` (nothing if it holds no live session)."""
        if raw:
            digest = digest_of(raw)
            self._live.pop(digest, None)
            await self._store.end([digest], self._clock.now())

    async def end_all(self, kind: SessionKind, subject: str) -> int:
        """End every session of one fan or admin account; how many were live."""
        ending = [d for d, s in self._live.items() if s.kind is kind and s.subject == subject]
        for digest in ending:
            del self._live[digest]
        await self._store.end(ending, self._clock.now())
        return len(ending)

    async def sign_out_fan_everywhere(self, fan_id: str) -> int:
        """Every browser session of the fan ends, and every bearer token made before now
        stops working (its generation is no longer the fan's). Returns the sessions ended."""
        generation = self._tokens.generation(fan_id) + 1
        await self._store.set_generation(fan_id, generation, self._clock.now())
        self._tokens.set_generation(fan_id, generation)
        return await self.end_all(SessionKind.FAN, fan_id)
