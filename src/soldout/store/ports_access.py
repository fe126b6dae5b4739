"""The ports of people: fans, the admin team with its invites, and browser sessions with
fans' token generations (`ports.py` gathers them into the `Store`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from soldout.domain.fans import Fan
from soldout.domain.sessions import Session
from soldout.domain.team import AdminAccount, Invite

__all__ = ["FanRepository", "SessionRepository", "TeamRepository"]


class FanRepository(Protocol):
    async def add(self, fan: Fan) -> None:
        """Raise `soldout.domain.errors.Conflict` (code `email_taken`) on a duplicate e-mail."""

    async def get(self, fan_id: str) -> Fan | None: ...
    async def by_email(self, email: str) -> Fan | None:
        """`email` normalised (see `domain.fans.normalise_email`)."""

    async def by_referral_code(self, code: str) -> Fan | None: ...
    async def referral_pairs(self) -> Sequence[tuple[str, str]]:
        """(fan, the fan who referred them) for every referred fan."""

    async def contacts(self) -> Sequence[tuple[str, str | None, str | None]]:
        """(fan, address, phone) for every fan who gave either."""

    def update(self, fan: Fan) -> asyncio.Future[None]:
        """Write the fan's name, contact, shipping address, locale and time zone."""

    async def erased(self) -> Sequence[str]:
        """The ids of fans whose data was erased (their tokens must not work)."""

    def erase(self, fan_id: str, at: datetime) -> asyncio.Future[None]:
        """Erase a fan's personal data in one transaction: name, e-mail (replaced by a
        placeholder that can never receive mail), address and phone on the fan and on
        their orders, their notifications, and their reservations of launches not drawn
        (a drawn launch keeps its published entries). Orders stay, for the maker's books."""


class TeamRepository(Protocol):
    """The admin accounts and their invites (a team is small: `services.team` holds it in
    memory and writes every change through)."""

    async def accounts(self) -> Sequence[AdminAccount]: ...
    async def add(self, account: AdminAccount) -> None:
        """Conflict `email_taken` if an account has this e-mail."""

    async def update(self, account: AdminAccount) -> None: ...
    async def remove(self, account_id: str) -> None: ...
    async def invites(self) -> Sequence[Invite]:
        """The invites not yet used (expired ones too), oldest first."""

    async def invite(self, invite: Invite) -> None: ...
    async def cancel(self, invite_id: str) -> None: ...
    async def accept(self, invite_id: str, account: AdminAccount, now: datetime) -> bool:
        """In one transaction: spend the invite, if still open at `now`, and add the
        account. False (nothing written) if it was used, cancelled or has expired; Conflict
        `email_taken` (nothing written) if an account has the e-mail."""


class SessionRepository(Protocol):
    """Browser sessions (by the digest of their id) and fans' token generations."""

    def add(self, session: Session) -> asyncio.Future[None]: ...
    def end(self, digests: Sequence[str], at: datetime) -> asyncio.Future[None]:
        """End these sessions (a sign-out), and forget every expired one."""

    async def live(self, now: datetime) -> Sequence[Session]:
        """Every session neither ended nor expired at `now`."""

    def set_generation(self, fan_id: str, generation: int, at: datetime) -> asyncio.Future[None]:
        """Tokens of `fan_id` signed with an older generation no longer work."""

    async def generations(self) -> Sequence[tuple[str, int]]: ...
