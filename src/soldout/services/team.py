"""The maker's team: signing in (password, or the bootstrap token), the first owner,
invites, roles and removals, each person's own password. Every change is audited under the
name of who made it.

    raw = await team.sign_in("ada@example.com", "a long password", address)
    admin = team.who(raw)               # Admin(role=Role.OWNER, actor="Ada <ada@...>")
    invite, key = await team.invite(admin, "bob@example.com", Role.STAFF)
    account, raw = await team.accept(key, "Bob", "another long password", address)
    raw = await team.change_password(admin, "a long password", new, new, address)  # new session

The bootstrap token (`SOLDOUT_ADMIN_TOKEN`) signs in as an owner named by its
fingerprint: it makes the first owner account, and it stays the way back in (a lost
password, a locked-out account), as it is for the API; a member who forgot theirs is
removed and invited again by an owner. Accounts are few: held here, loaded on start,
every change written through, one at a time (`_writing`: a role change and a password
change made at once both stay).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from datetime import datetime

from soldout.clock import Clock
from soldout.domain.audit import AuditEntry
from soldout.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from soldout.domain.fans import normalise_email
from soldout.domain.sessions import INVITE_LIFETIME, SessionKind, digest_of
from soldout.domain.team import (
    BOOTSTRAP,
    Admin,
    AdminAccount,
    Invite,
    Role,
    check_name,
    check_password,
)
from soldout.ids import new_id
from soldout.services.passwords import Passwords
from soldout.services.sessions import Sessions
from soldout.services.throttle import Throttle
from soldout.services.tokens import TokenSigner
from soldout.store.ports import AuditRepository, TeamRepository

__all__ = ["Team"]


class Team:
    def __init__(
        self,
        store: TeamRepository,
        audit: AuditRepository,
        sessions: Sessions,
        tokens: TokenSigner,
        passwords: Passwords,
        throttle: Throttle,
        clock: Clock,
    ) -> None:
        self._store = store
        self._audit = audit
        self._sessions = sessions
        self._tokens = tokens
        self._passwords = passwords
        self._throttle = throttle
        self._clock = clock
        self._accounts: dict[str, AdminAccount] = {}
        self._writing = asyncio.Lock()  # an account is read, changed and written under it

    async def load(self) -> None:
        self._accounts = {a.id: a for a in await self._store.accounts()}

    # -- who is signed in ------------------------------------------------------------
    def who(self, raw: str | None) -> Admin | None:
        """The admin an admin cookie signs in, or None (no such session, or it expired,
        or its account was removed)."""
        session = self._sessions.find(SessionKind.ADMIN, raw)
        if session is None:
            return None
        if session.subject == BOOTSTRAP:
            return Admin(BOOTSTRAP, Role.OWNER, self._tokens.admin_actor)
        account = self._accounts.get(session.subject)
        if account is None:
            return None
        return Admin(account.id, account.role, account.actor, account)

    def accounts(self) -> list[AdminAccount]:
        return sorted(self._accounts.values(), key=lambda a: (a.created_at, a.id))

    @property
    def has_owner(self) -> bool:
        return any(a.role is Role.OWNER for a in self._accounts.values())

    async def invites(self) -> list[Invite]:
        now = self._clock.now()
        return [i for i in await self._store.invites() if i.open_at(now)]

    # -- signing in and out ----------------------------------------------------------
    async def sign_in_with_token(self, token: str, address: str | None) -> str:
        """A new admin session for the bootstrap token; `Unauthorized` if it is not it."""
        self._throttle.begin_sign_in(address, None)
        if not self._tokens.is_admin(token):
            raise Unauthorized("that is not the admin token")
        self._throttle.sign_in_worked(address, None)
        return await self._sessions.open(SessionKind.ADMIN, BOOTSTRAP)

    async def sign_in(self, email: str, password: str, address: str | None) -> str:
        """A new admin session for the account; `Unauthorized` (the same whether the
        address has no account or the password is wrong)."""
        try:
            key = normalise_email(email)
        except InvalidInput:
            key = email.strip().lower()  # (no account has it: counted as a failure)
        self._throttle.begin_sign_in(address, key)
        account = next((a for a in self._accounts.values() if a.email == key), None)
        stored = account.password_hash if account is not None else None
        if account is None or not await self._passwords.verify(stored, password):
            raise Unauthorized("that e-mail and password do not match an account")
        self._throttle.sign_in_worked(address, key)
        if self._passwords.needs_rehash(account.password_hash):
            await self._replace_hash(account, await self._passwords.hash(password))
        return await self._sessions.open(SessionKind.ADMIN, account.id)

    async def sign_out(self, raw: str | None) -> None:
        await self._sessions.end(raw)

    # -- one's own password ----------------------------------------------------------
    async def change_password(
        self, by: Admin, current: str, new: str, repeated: str, address: str | None
    ) -> str:
        """The signed-in person replaces their password. A wrong `current` counts as a
        failed sign-in of the account (`Unauthorized`, field `current_password`; then
        `RateLimited`). Every session of the account ends; the browser that changed it
        goes on in a new one, whose id is returned (a new id, as after any sign-in).

        Refused: the bootstrap token (`Forbidden`: it has no password), a new password
        too short or too long (`new_password`, as at account creation), a repetition that
        differs (`repeat_password`), the current password again (`new_password`)."""
        if by.is_bootstrap:
            raise Forbidden(
                "you signed in with the admin token, which has no password to change"
            ).with_code("no_password")
        account = self._account(by.subject)
        check_password(new, field="new_password")
        if repeated != new:
            raise InvalidInput(
                "the repetition differs from the new password",
                field="repeat_password",
                code="password_mismatch",
            )
        self._throttle.begin_sign_in(address, account.email)
        if not await self._passwords.verify(account.password_hash, current):
            raise Unauthorized("the current password is not right", field="current_password")
        self._throttle.sign_in_worked(address, account.email)
        if new == current:
            raise InvalidInput(
                "the new password must differ from the current one",
                field="new_password",
                code="same_password",
            )
        changed = await self._replace_hash(account, await self._passwords.hash(new))
        if changed is None:  # another tab changed it first, and ended this session
            raise Conflict(
                "your password was changed meanwhile: sign in with the new one", field=None
            )
        ended = await self._sessions.end_all(SessionKind.ADMIN, account.id)
        detail = {"email": account.email, "other_sessions_ended": str(max(0, ended - 1))}
        await self._record(by, "team.password_changed", account.id, detail)
        return await self._sessions.open(SessionKind.ADMIN, account.id)

    async def _replace_hash(
        self, verified: AdminAccount, password_hash: str
    ) -> AdminAccount | None:
        """Write `password_hash` over the hash `verified` was checked against; None (and
        nothing written) if that one is gone meanwhile (changed, or the account removed)."""
        async with self._writing:
            latest = self._accounts.get(verified.id)
            if latest is None or latest.password_hash != verified.password_hash:
                return None
            changed = replace(latest, password_hash=password_hash)  # (a role changed stays)
            await self._store.update(changed)
            self._accounts[changed.id] = changed
            return changed

    # -- the maker's e-mails -----------------------------------------------------------
    def news_recipients(self) -> list[str]:
        """The accounts the maker's e-mails go to now (`engine/maker_news.py`): owners and
        staff who did not turn them off. The bootstrap token has no address: never."""
        return [a.id for a in self.accounts() if a.gets_maker_mail]

    async def set_maker_mail(self, by: Admin, wanted: bool) -> AdminAccount:
        """The signed-in person turns the maker's e-mails on or off for their own account
        (`Forbidden` for the bootstrap token: no address to send them to)."""
        if by.is_bootstrap:
            raise Forbidden(
                "you signed in with the admin token, which has no e-mail address"
            ).with_code("no_address")
        async with self._writing:
            account = self._account(by.subject)
            if account.maker_mail is wanted:
                return account
            changed = replace(account, maker_mail=wanted)
            await self._store.update(changed)
            self._accounts[changed.id] = changed
        detail = {"email": account.email, "maker_mail": "on" if wanted else "off"}
        await self._record(by, "team.maker_mail", account.id, detail)
        return changed

    # -- the first owner -------------------------------------------------------------
    async def create_first_owner(
        self, by: Admin, email: str, name: str, password: str
    ) -> tuple[AdminAccount, str]:
        """Signed in with the bootstrap token and no owner account yet: make one, and
        move the browser onto it (the token's session ends). Returns it with its session."""
        if not by.is_bootstrap:
            raise Forbidden("only the bootstrap admin token makes the first owner account")
        if self.has_owner:
            raise Conflict("the team has an owner already: ask them for an invite", field=None)
        account = await self._new_account(email, name, password, Role.OWNER, None)
        await self._store.add(account)
        self._accounts[account.id] = account
        await self._record(by, "team.owner", account.id, {"email": account.email})
        return account, await self._sessions.open(SessionKind.ADMIN, account.id)

    async def _new_account(
        self, email: str, name: str, password: str, role: Role, invited_by: str | None
    ) -> AdminAccount:
        email = normalise_email(email)
        name = check_name(name)
        password_hash = await self._passwords.hash(check_password(password))
        if any(a.email == email for a in self._accounts.values()):
            raise Conflict("an admin account has this e-mail", field="email").with_code(
                "email_taken"
            )
        now = self._clock.now()
        return AdminAccount(new_id("adm"), email, name, role, password_hash, now, invited_by)

    # -- invites ---------------------------------------------------------------------
    async def invite(self, by: Admin, email: str, role: Role) -> tuple[Invite, str]:
        """An owner invites someone: the invite and the key of its link (shown once). An
        address has one open invite: the newest link is the one that works (an older one,
        sent with another role or lost, would otherwise let them in later, even after
        being removed)."""
        self._must_run_team(by)
        email = normalise_email(email)
        async with self._writing:  # (two invites at once: the later one is the one left)
            if any(a.email == email for a in self._accounts.values()):
                raise Conflict("an admin account has this e-mail", field="email").with_code(
                    "email_taken"
                )
            await self._cancel_invites_of(email, by, "invited again")
            key = secrets.token_urlsafe(32)
            now = self._clock.now()
            invite = Invite(digest_of(key), email, role, by.actor, now, now + INVITE_LIFETIME)
            await self._store.invite(invite)
        await self._record(by, "team.invite", email, {"role": role.value})
        return invite, key

    async def _cancel_invites_of(self, email: str, by: Admin, why: str) -> None:
        """Every open invite of `email` stops working (it joined, was removed, or is
        invited again), each in the audit log."""
        for invite in await self.invites():
            if invite.email == email:
                await self._store.cancel(invite.id)
                detail = {"role": invite.role.value, "why": why}
                await self._record(by, "team.invite_cancel", email, detail)

    async def invite_for(self, key: str) -> Invite | None:
        """The open invite a link's key stands for, or None (used, cancelled, expired)."""
        digest = digest_of(key)
        return next((i for i in await self.invites() if i.id == digest), None)

    async def cancel_invite(self, by: Admin, invite_id: str) -> None:
        self._must_run_team(by)
        invite = next((i for i in await self.invites() if i.id == invite_id), None)
        if invite is None:
            raise NotFound("invite")
        await self._store.cancel(invite_id)
        await self._record(by, "team.invite_cancel", invite.email, {"role": invite.role.value})

    async def accept(
        self, key: str, name: str, password: str, address: str | None
    ) -> tuple[AdminAccount, str]:
        """The invitee sets a name and a password: the account is made and signed in.
        The link works once (spent in the same transaction that adds the account)."""
        self._throttle.begin_sign_in(address, None)  # (a wrong key counts as a failure)
        invite = await self.invite_for(key)
        if invite is None:
            raise NotFound("invite")
        self._throttle.sign_in_worked(address, None)
        account = await self._new_account(
            invite.email, name, password, invite.role, invite.invited_by
        )
        if not await self._store.accept(invite.id, account, self._clock.now()):
            raise NotFound("invite")  # spent meanwhile (the other tab won)
        self._accounts[account.id] = account
        joined = Admin(account.id, account.role, account.actor, account)
        await self._cancel_invites_of(account.email, joined, "joined")  # (made before the rule)
        await self._record(joined, "team.join", account.id, {"role": account.role.value})
        return account, await self._sessions.open(SessionKind.ADMIN, account.id)

    # -- roles and removal -----------------------------------------------------------
    async def change_role(self, by: Admin, account_id: str, role: Role) -> AdminAccount:
        """An owner changes someone's role; their sessions end (they sign in again and
        see what the new role allows)."""
        self._must_run_team(by)
        async with self._writing:
            account = self._account(account_id)
            if account.role is role:
                return account
            self._keep_an_owner(account)
            changed = replace(account, role=role)
            await self._store.update(changed)
            self._accounts[account.id] = changed
        await self._sessions.end_all(SessionKind.ADMIN, account.id)
        detail = {"email": account.email, "from": account.role.value, "to": role.value}
        await self._record(by, "team.role", account.id, detail)
        return changed

    async def remove(self, by: Admin, account_id: str) -> None:
        """An owner removes an account: its sessions end at once."""
        self._must_run_team(by)
        async with self._writing:
            account = self._account(account_id)
            self._keep_an_owner(account)
            await self._store.remove(account.id)
            del self._accounts[account.id]
        await self._cancel_invites_of(account.email, by, "removed")  # back only if invited
        await self._sessions.end_all(SessionKind.ADMIN, account.id)
        await self._record(by, "team.remove", account.id, {"email": account.email})

    def _account(self, account_id: str) -> AdminAccount:
        account = self._accounts.get(account_id)
        if account is None:
            raise NotFound("admin account")
        return account

    def _keep_an_owner(self, account: AdminAccount) -> None:
        owners = [a for a in self._accounts.values() if a.role is Role.OWNER]
        if account.role is Role.OWNER and len(owners) == 1:
            raise Conflict(
                "this is the team's only owner: make someone else owner first", field=None
            ).with_code("last_owner")

    @staticmethod
    def _must_run_team(by: Admin) -> None:
        if not by.role.runs_team:
            raise Forbidden("only an owner may change the team")

    async def _record(self, by: Admin, action: str, subject: str, detail: dict[str, str]) -> None:
        now: datetime = self._clock.now()
        await self._audit.add(AuditEntry(now, by.actor, action, subject, detail))
