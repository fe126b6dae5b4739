"""The SQLite repositories of who may get in: the admin team with its invites, browser
sessions and fans' token generations (migration 0008, docs/security.md)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from soldout.domain.errors import Conflict
from soldout.domain.sessions import Session
from soldout.domain.team import AdminAccount, Invite
from soldout.store.rows import ts
from soldout.store.rows_access import (
    account_from_row,
    account_row,
    invite_from_row,
    invite_row,
    session_from_row,
    session_row,
)
from soldout.store.sqlite.base import _InBlock, _one, _Repo
from soldout.store.sqlite.writer import Job

__all__ = ["BlockSessions", "BlockTeam", "SqliteSessions", "SqliteTeam"]

_INSERT_ACCOUNT = (
    "INSERT INTO admin_accounts (id, email, name, role, password_hash, created_at, invited_by)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _email_taken(exc: sqlite3.IntegrityError) -> Conflict:
    error = Conflict("an admin account has this e-mail", field="email")
    error.code = "email_taken"
    error.__cause__ = exc
    return error


class SqliteTeam(_Repo):
    async def accounts(self) -> Sequence[AdminAccount]:
        rows = self._read.execute("SELECT * FROM admin_accounts ORDER BY created_at, id")
        return [account_from_row(row) for row in rows]

    async def add(self, account: AdminAccount) -> None:
        try:
            await self._writer.submit(_one(_INSERT_ACCOUNT, account_row(account)))
        except sqlite3.IntegrityError as exc:
            raise _email_taken(exc) from exc

    async def update(self, account: AdminAccount) -> None:
        await self._writer.submit(_update_account(account))

    async def remove(self, account_id: str) -> None:
        await self._writer.submit(_remove_account(account_id))

    async def invites(self) -> Sequence[Invite]:
        rows = self._read.execute(
            "SELECT * FROM admin_invites WHERE used_at IS NULL ORDER BY created_at, id"
        )
        return [invite_from_row(row) for row in rows]

    async def invite(self, invite: Invite) -> None:
        await self._writer.submit(_add_invite(invite))

    async def cancel(self, invite_id: str) -> None:
        await self._writer.submit(_cancel_invite(invite_id))

    async def accept(self, invite_id: str, account: AdminAccount, now: datetime) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            spent = conn.execute(
                "UPDATE admin_invites SET used_at = ?"
                " WHERE id = ? AND used_at IS NULL AND expires_at > ?",
                (ts(now), invite_id, ts(now)),
            )
            if spent.rowcount != 1:
                return False
            conn.execute(_INSERT_ACCOUNT, account_row(account))  # (fails: rolled back)
            return True

        try:
            accepted: bool = await self._writer.submit(job)
        except sqlite3.IntegrityError as exc:
            raise _email_taken(exc) from exc
        return accepted


class SqliteSessions(_Repo):
    def add(self, session: Session) -> asyncio.Future[None]:
        return self._writer.submit(_add_session(session))

    def end(self, digests: Sequence[str], at: datetime) -> asyncio.Future[None]:
        return self._writer.submit(_end_sessions(digests, at))

    async def live(self, now: datetime) -> Sequence[Session]:
        rows = self._read.execute("SELECT * FROM sessions WHERE expires_at > ?", (ts(now),))
        return [session_from_row(row) for row in rows]

    def set_generation(self, fan_id: str, generation: int, at: datetime) -> asyncio.Future[None]:
        return self._writer.submit(_set_generation(fan_id, generation, at))

    async def generations(self) -> Sequence[tuple[str, int]]:
        rows = self._read.execute("SELECT fan_id, generation FROM fan_token_generations")
        return [(row[0], row[1]) for row in rows]


class BlockTeam(_InBlock):
    def update(self, account: AdminAccount) -> None:
        self._block.add(_update_account(account))

    def remove(self, account_id: str) -> None:
        self._block.add(_remove_account(account_id))

    def invite(self, invite: Invite) -> None:
        self._block.add(_add_invite(invite))

    def cancel(self, invite_id: str) -> None:
        self._block.add(_cancel_invite(invite_id))


class BlockSessions(_InBlock):
    def add(self, session: Session) -> None:
        self._block.add(_add_session(session))

    def end(self, digests: Sequence[str], at: datetime) -> None:
        self._block.add(_end_sessions(digests, at))

    def set_generation(self, fan_id: str, generation: int, at: datetime) -> None:
        self._block.add(_set_generation(fan_id, generation, at))


def _update_account(account: AdminAccount) -> Job:
    return _one(
        "UPDATE admin_accounts SET name = ?, role = ?, password_hash = ?, maker_mail = ?"
        " WHERE id = ?",
        (
            account.name,
            account.role.value,
            account.password_hash,
            int(account.maker_mail),
            account.id,
        ),
    )


def _remove_account(account_id: str) -> Job:
    def job(conn: sqlite3.Connection) -> None:
        # The maker's e-mails still pending for a removed member go nowhere: gone with them.
        conn.execute("DELETE FROM notifications WHERE fan_id = ?", (account_id,))
        conn.execute("DELETE FROM admin_accounts WHERE id = ?", (account_id,))

    return job


def _add_invite(invite: Invite) -> Job:
    return _one(
        "INSERT INTO admin_invites (id, email, role, invited_by, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        invite_row(invite),
    )


def _cancel_invite(invite_id: str) -> Job:
    return _one("DELETE FROM admin_invites WHERE id = ? AND used_at IS NULL", (invite_id,))


def _add_session(session: Session) -> Job:
    return _one(
        "INSERT INTO sessions (digest, kind, subject, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        session_row(session),
    )


def _end_sessions(digests: Sequence[str], at: datetime) -> Job:
    rows = [(d,) for d in digests]

    def job(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (ts(at),))
        conn.executemany("DELETE FROM sessions WHERE digest = ?", rows)

    return job


def _set_generation(fan_id: str, generation: int, at: datetime) -> Job:
    return _one(
        "INSERT INTO fan_token_generations (fan_id, generation, changed_at)"
        " VALUES (?, ?, ?) ON CONFLICT (fan_id) DO UPDATE"
        " SET generation = excluded.generation, changed_at = excluded.changed_at",
        (fan_id, generation, ts(at)),
    )
