"""The in-memory store's repositories of who may get in: the admin team with its invites,
and browser sessions with fans' token generations."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from soldout.domain.errors import Conflict
from soldout.domain.sessions import Session
from soldout.domain.team import AdminAccount, Invite
from soldout.store.memory_site import MemoryNotifications
from soldout.store.memory_transaction import Journal

__all__ = ["MemorySessions", "MemoryTeam"]


def _email_taken() -> Conflict:
    error = Conflict("an admin account has this e-mail", field="email")
    error.code = "email_taken"
    return error


class MemoryTeam:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, AdminAccount] = {}
        self.invite_rows: dict[str, Invite] = {}
        self._journal = journal
        self.notifications: MemoryNotifications | None = None  # a removed member's go too

    async def accounts(self) -> Sequence[AdminAccount]:
        return list(self.rows.values())

    async def add(self, account: AdminAccount) -> None:
        self._add(account)
        self._journal.count()

    def _add(self, account: AdminAccount) -> None:
        if any(a.email == account.email for a in self.rows.values()):
            raise _email_taken()
        self.rows[account.id] = account

    async def update(self, account: AdminAccount) -> None:
        self.rows[account.id] = account
        self._journal.count()

    async def remove(self, account_id: str) -> None:
        self.rows.pop(account_id, None)
        if self.notifications is not None:
            self.notifications.forget(account_id)
        self._journal.count()

    async def invites(self) -> Sequence[Invite]:
        return [i for i in self.invite_rows.values() if i.used_at is None]

    async def invite(self, invite: Invite) -> None:
        self.invite_rows[invite.id] = invite
        self._journal.count()

    async def cancel(self, invite_id: str) -> None:
        self.invite_rows.pop(invite_id, None)
        self._journal.count()

    async def accept(self, invite_id: str, account: AdminAccount, now: datetime) -> bool:
        invite = self.invite_rows.get(invite_id)
        if invite is None or not invite.open_at(now):
            return False
        self._add(account)
        self.invite_rows[invite_id] = replace(invite, used_at=now)
        self._journal.count()
        return True


class MemorySessions:
    def __init__(self, journal: Journal) -> None:
        self.rows: dict[str, Session] = {}
        self.token_generations: dict[str, int] = {}
        self._journal = journal

    def add(self, session: Session) -> asyncio.Future[None]:
        self.rows[session.digest] = session
        return self._journal.done()

    def end(self, digests: Sequence[str], at: datetime) -> asyncio.Future[None]:
        gone = {*digests, *(d for d, s in self.rows.items() if not s.live_at(at))}
        for digest in gone:
            self.rows.pop(digest, None)
        return self._journal.done()

    async def live(self, now: datetime) -> Sequence[Session]:
        return [s for s in self.rows.values() if s.live_at(now)]

    def set_generation(self, fan_id: str, generation: int, at: datetime) -> asyncio.Future[None]:
        self.token_generations[fan_id] = generation
        return self._journal.done()

    async def generations(self) -> Sequence[tuple[str, int]]:
        return list(self.token_generations.items())
