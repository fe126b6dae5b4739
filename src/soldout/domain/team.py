"""The maker's team: admin accounts with a role each, and the invites that add them.

Roles, from most to least: an `owner` runs the team (invites, changes roles, removes
accounts) and everything else; `staff` run launches (products, launches, codes, plans,
orders, refunds, the shop); `read_only` sees every admin page and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from soldout.domain.errors import InvalidInput

__all__ = [
    "BOOTSTRAP",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "Admin",
    "AdminAccount",
    "Invite",
    "Role",
    "check_name",
    "check_password",
    "parse_role",
]

PASSWORD_MIN = 12  # NIST SP 800-63B asks for 8 at least; a team's admin guards the money
PASSWORD_MAX = 1024  # hashing is costly by design: no megabyte "passwords"
BOOTSTRAP = "token"  # the subject of a session signed in with the bootstrap admin token


class Role(StrEnum):
    OWNER = "owner"
    STAFF = "staff"
    READ_ONLY = "read_only"

    @property
    def may_change(self) -> bool:
        """Whether this role may change anything (post an admin form)."""
        return self is not Role.READ_ONLY

    @property
    def acts_on_news(self) -> bool:
        """Whether the maker's e-mails (a launch sold out, money given back, a refund a
        fan asked for) go to this role: those who may act on them, not the read-only."""
        return self.may_change

    @property
    def runs_team(self) -> bool:
        return self is Role.OWNER

    @property
    def label(self) -> str:
        return {"owner": "Owner", "staff": "Staff", "read_only": "Read-only"}[self.value]


def parse_role(raw: str, field: str = "role") -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise InvalidInput("the role must be owner, staff or read_only", field=field) from None


def check_password(password: str, field: str = "password") -> str:
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(
            f"the password must have at least {PASSWORD_MIN} characters",
            field=field,
            code="weak_password",
        )
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(f"the password must have at most {PASSWORD_MAX} characters", field=field)
    return password


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("a name is required", field="name")
    if len(name) > 100:
        raise InvalidInput("the name must have at most 100 characters", field="name")
    return name


@dataclass(frozen=True, slots=True)
class AdminAccount:
    id: str
    email: str  # normalised (`normalise_email`): the account's sign-in name, unique
    name: str
    role: Role
    password_hash: str
    created_at: datetime
    invited_by: str | None  # who invited them (an audit actor), None for the first owner
    maker_mail: bool = True  # the maker's e-mails wanted (turned off by the member only)

    @property
    def gets_maker_mail(self) -> bool:
        return self.maker_mail and self.role.acts_on_news

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True, slots=True)
class Invite:
    """An invitation to join the team. The link carries a random key; only its digest
    (`id`) is kept, so the record cannot be turned back into a working link."""

    id: str
    email: str
    role: Role
    invited_by: str  # an audit actor
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def open_at(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class Admin:
    """Who is signed in to the admin: an account, or the bootstrap token (an owner)."""

    subject: str  # the account id, or `BOOTSTRAP`
    role: Role
    actor: str  # how the audit log names them
    account: AdminAccount | None = None

    @property
    def is_bootstrap(self) -> bool:
        return self.account is None
