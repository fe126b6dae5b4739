"""Rows <-> domain objects of people (fans, admin accounts, invites, sessions) and of the
site (uploaded media, the shop's settings), the same for both adapters (see `rows.py`)."""

from __future__ import annotations

import json
from dataclasses import asdict

from soldout.domain.fans import Fan
from soldout.domain.media import MediaItem
from soldout.domain.sessions import Session, SessionKind
from soldout.domain.shop import Shop
from soldout.domain.team import AdminAccount, Invite, Role
from soldout.store.rows import Row, dt, req, shipping_from_json, shipping_json, ts

__all__ = [
    "account_from_row",
    "account_row",
    "fan_changes",
    "fan_from_row",
    "fan_row",
    "invite_from_row",
    "invite_row",
    "media_from_row",
    "media_row",
    "session_from_row",
    "session_row",
    "shop_from_json",
    "shop_json",
]


def fan_from_row(row: Row) -> Fan:
    return Fan(
        row["id"],
        row["email"],
        row["name"],
        row["referral_code"],
        row["referred_by"],
        req(row["created_at"]),
        row["address"],
        row["phone"],
        shipping_from_json(row["shipping"]),
        row["locale"],
        row["time_zone"],
        dt(row["erased_at"]),
        row["rehearsal"],
        dt(row["email_proven_at"]),
    )


def fan_row(fan: Fan) -> tuple[object, ...]:
    """The values of a new fan's row: id, email, name, referral_code, referred_by,
    created_at, address, phone, shipping, locale, time_zone, rehearsal."""
    return (
        fan.id,
        fan.email,
        fan.name,
        fan.referral_code,
        fan.referred_by,
        ts(fan.created_at),
        fan.address,
        fan.phone,
        shipping_json(fan.shipping),
        fan.locale,
        fan.time_zone,
        fan.rehearsal,
    )


def fan_changes(fan: Fan) -> tuple[object, ...]:
    """What a fan may change: name, address, phone, shipping, locale, time_zone,
    email_proven_at, then id."""
    return (
        fan.name,
        fan.address,
        fan.phone,
        shipping_json(fan.shipping),
        fan.locale,
        fan.time_zone,
        ts(fan.email_proven_at),
        fan.id,
    )


def account_row(a: AdminAccount) -> tuple[object, ...]:
    """id, email, name, role, password_hash, created_at, invited_by (`maker_mail` is
    the column's default, on, for a new account: only `update` writes it)."""
    return (a.id, a.email, a.name, a.role.value, a.password_hash, ts(a.created_at), a.invited_by)


def account_from_row(row: Row) -> AdminAccount:
    return AdminAccount(
        row["id"],
        row["email"],
        row["name"],
        Role(row["role"]),
        row["password_hash"],
        req(row["created_at"]),
        row["invited_by"],
        bool(row["maker_mail"]),
    )


def invite_row(invite: Invite) -> tuple[object, ...]:
    """id, email, role, invited_by, created_at, expires_at."""
    return (
        invite.id,
        invite.email,
        invite.role.value,
        invite.invited_by,
        ts(invite.created_at),
        ts(invite.expires_at),
    )


def invite_from_row(row: Row) -> Invite:
    return Invite(
        row["id"],
        row["email"],
        Role(row["role"]),
        row["invited_by"],
        req(row["created_at"]),
        req(row["expires_at"]),
    )


def session_row(session: Session) -> tuple[object, ...]:
    """digest, kind, subject, created_at, expires_at."""
    return (
        session.digest,
        session.kind.value,
        session.subject,
        ts(session.created_at),
        ts(session.expires_at),
    )


def session_from_row(row: Row) -> Session:
    return Session(
        row["digest"],
        SessionKind(row["kind"]),
        row["subject"],
        req(row["created_at"]),
        req(row["expires_at"]),
    )


def media_row(item: MediaItem) -> tuple[object, ...]:
    """id, content_type, width, height, data, created_at."""
    return (item.id, item.content_type, item.width, item.height, item.data, ts(item.created_at))


def media_from_row(row: Row) -> MediaItem:
    return MediaItem(
        row["id"],
        row["content_type"],
        row["width"],
        row["height"],
        bytes(row["data"]),
        req(row["created_at"]),
    )


def shop_json(shop: Shop) -> str:
    return json.dumps(asdict(shop))


def shop_from_json(text: str) -> Shop:
    """The settings as saved, without those this version no longer knows."""
    known = set(Shop.__dataclass_fields__)
    return Shop(**{k: v for k, v in json.loads(text).items() if k in known})
