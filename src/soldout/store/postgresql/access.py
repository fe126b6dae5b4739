"""The PostgreSQL repositories of who may get in: the admin team with its invites, browser
sessions and fans' token generations (docs/security.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import psycopg

from soldout.domain.errors import Conflict
from soldout.domain.sessions import Session
from soldout.domain.team import AdminAccount, Invite
from soldout.store.postgresql.base import InBlock, Repo, one
from soldout.store.postgresql.writer import Do
from soldout.store.rows import ts
from soldout.store.rows_access import (
    account_from_row,
    account_row,
    invite_from_row,
    invite_row,
    session_from_row,
    session_row,
)

__all__ = ["BlockSessions", "BlockTeam", "PgSessions", "PgTeam"]

_ACCOUNT_COLUMNS = "id, email, name, role, password_hash, created_at, invited_by"
_INSERT_ACCOUNT = (
    f"INSERT INTO admin_accounts ({_ACCOUNT_COLUMNS}) VALUES ({', '.join(['%b'] * 7)})"
)
# The invite is spent and the account added by one statement, so both or neither land:
# no row to spend (used, cancelled, expired) adds no account; a taken e-mail fails it whole.
_ACCEPT = (
    "WITH spent AS (UPDATE admin_invites SET used_at = %b WHERE id = %b AND used_at IS NULL"
    f" AND expires_at > %b RETURNING id) INSERT INTO admin_accounts ({_ACCOUNT_COLUMNS})"
    f" SELECT {', '.join(['%b::text'] * 7)} FROM spent"
)


def _email_taken(exc: psycopg.errors.UniqueViolation) -> Conflict:
    error = Conflict("an admin account has this e-mail", field="email")
    error.code = "email_taken"
    error.__cause__ = exc
    return error


class PgTeam(Repo):
    async def accounts(self) -> Sequence[AdminAccount]:
        rows = await self._rows("SELECT * FROM admin_accounts ORDER BY created_at, id")
        return [account_from_row(row) for row in rows]

    async def add(self, account: AdminAccount) -> None:
        try:
            await self._do(_INSERT_ACCOUNT, account_row(account))
        except psycopg.errors.UniqueViolation as exc:
            raise _email_taken(exc) from exc

    async def update(self, account: AdminAccount) -> None:
        await self._writer.submit(_update_account(account))

    async def remove(self, account_id: str) -> None:
        await self._writer.submit(_remove_account(account_id))

    async def invites(self) -> Sequence[Invite]:
        rows = await self._rows(
            "SELECT * FROM admin_invites WHERE used_at IS NULL ORDER BY created_at, id"
        )
        return [invite_from_row(row) for row in rows]

    async def invite(self, invite: Invite) -> None:
        await self._writer.submit(_add_invite(invite))

    async def cancel(self, invite_id: str) -> None:
        await self._writer.submit(_cancel_invite(invite_id))

    async def accept(self, invite_id: str, account: AdminAccount, now: datetime) -> bool:
        params = (ts(now), invite_id, ts(now), *account_row(account))
        try:
            accepted: bool = await self._writer.submit(Do([(_ACCEPT, params)], count=True))
        except psycopg.errors.UniqueViolation as exc:
            raise _email_taken(exc) from exc
        return accepted


class PgSessions(Repo):
    def add(self, session: Session) -> asyncio.Future[None]:
        return self._writer.submit(_add_session(session))

    def end(self, digests: Sequence[str], at: datetime) -> asyncio.Future[None]:
        return self._writer.submit(_end_sessions(digests, at))

    async def live(self, now: datetime) -> Sequence[Session]:
        rows = await self._rows("SELECT * FROM sessions WHERE expires_at > %b", (ts(now),))
        return [session_from_row(row) for row in rows]

    async def find(self, digest: str, now: datetime) -> Session | None:
        """The one live session of this digest (a worker's read: `scaleout.worker_gate`)."""
        rows = await self._rows(
            "SELECT * FROM sessions WHERE digest = %b AND expires_at > %b", (digest, ts(now))
        )
        return session_from_row(rows[0]) if rows else None

    def set_generation(self, fan_id: str, generation: int, at: datetime) -> asyncio.Future[None]:
        return self._writer.submit(_set_generation(fan_id, generation, at))

    async def generations(self) -> Sequence[tuple[str, int]]:
        rows = await self._rows("SELECT fan_id, generation FROM fan_token_generations")
        return [(row["fan_id"], row["generation"]) for row in rows]


class BlockTeam(InBlock):
    def update(self, account: AdminAccount) -> None:
        self._block.add(_update_account(account))

    def remove(self, account_id: str) -> None:
        self._block.add(_remove_account(account_id))

    def invite(self, invite: Invite) -> None:
        self._block.add(_add_invite(invite))

    def cancel(self, invite_id: str) -> None:
        self._block.add(_cancel_invite(invite_id))


class BlockSessions(InBlock):
    def add(self, session: Session) -> None:
        self._block.add(_add_session(session))

    def end(self, digests: Sequence[str], at: datetime) -> None:
        self._block.add(_end_sessions(digests, at))

    def set_generation(self, fan_id: str, generation: int, at: datetime) -> None:
        self._block.add(_set_generation(fan_id, generation, at))


def _update_account(account: AdminAccount) -> Do:
    return one(
        "UPDATE admin_accounts SET name = %b, role = %b, password_hash = %b, maker_mail = %b"
        " WHERE id = %b",
        (
            account.name,
            account.role.value,
            account.password_hash,
            int(account.maker_mail),
            account.id,
        ),
    )


def _remove_account(account_id: str) -> Do:
    # The maker's e-mails still pending for a removed member go nowhere: gone with them.
    return Do(
        [
            ("DELETE FROM notifications WHERE fan_id = %b", (account_id,)),
            ("DELETE FROM admin_accounts WHERE id = %b", (account_id,)),
        ]
    )


def _add_invite(invite: Invite) -> Do:
    return one(
        "INSERT INTO admin_invites (id, email, role, invited_by, created_at, expires_at)"
        " VALUES (%b, %b, %b, %b, %b, %b)",
        invite_row(invite),
    )


def _cancel_invite(invite_id: str) -> Do:
    return one("DELETE FROM admin_invites WHERE id = %b AND used_at IS NULL", (invite_id,))


def _add_session(session: Session) -> Do:
    return one(
        "INSERT INTO sessions (digest, kind, subject, created_at, expires_at)"
        " VALUES (%b, %b, %b, %b, %b)",
        session_row(session),
    )


def _end_sessions(digests: Sequence[str], at: datetime) -> Do:
    expired = ("DELETE FROM sessions WHERE expires_at <= %b", (ts(at),))
    ended = ("DELETE FROM sessions WHERE digest = ANY(%b::text[])", (list(digests),))
    return Do([expired, ended])


def _set_generation(fan_id: str, generation: int, at: datetime) -> Do:
    return one(
        "INSERT INTO fan_token_generations (fan_id, generation, changed_at)"
        " VALUES (%b, %b, %b) ON CONFLICT (fan_id) DO UPDATE"
        " SET generation = excluded.generation, changed_at = excluded.changed_at",
        (fan_id, generation, ts(at)),
    )
