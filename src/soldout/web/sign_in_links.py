"""One-time sign-in links: made, mailed within their throttle, and checked.

A link is `fan_id.generation.expires.target.signature` (HMAC-SHA256 with a key kept in
the store), works once (its digest is spent in `store.links`, across restarts) for
`SIGN_IN_LIFETIME`, and never shows on any page but under `soldout demo`. Asking for one
(`/signin`) and joining (`/join`, which mails one to a new account and to an address that
already has one) share `THROTTLE`, so neither is a way around the other's limits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta

from soldout.domain.fans import Fan
from soldout.domain.notifications import Notification
from soldout.ids import new_id
from soldout.services import Platform
from soldout.web.store_common import safe_next

__all__ = ["SIGN_IN_LIFETIME", "THROTTLE", "SignInThrottle", "check_link", "mail_link"]

SIGN_IN_LIFETIME = timedelta(minutes=15)


async def mail_link(
    platform: Platform, base: str, fan: Fan, target: str, asker: str | None, reason: str = ""
) -> str | None:
    """Write a `sign_in_link` notification for the outbox to mail to `fan`, unless the
    fan is erased or `THROTTLE` refuses it; the link (to show under `soldout demo`).
    `reason`: why it is mailed, for its letter's words (`joined`: a new account;
    `join_again`: someone joined with an address that already has one; else asked)."""
    now = platform.clock.now()
    if fan.is_erased or not THROTTLE.allows(fan.email, asker, now):
        return None
    path = f"/signin/{await _sign_in_token(platform, fan.id, target)}"
    link = base + path  # (the shop's address: never the request's Host)
    data = {"path": path, "url": link, "expires_at": (now + SIGN_IN_LIFETIME).isoformat()}
    if reason:
        data["reason"] = reason
    note = Notification(
        new_id("ntf"),
        fan.id,
        "sign_in_link",
        f"Your sign-in link (valid for 15 minutes, once): {link}",
        now,
        data,
    )
    await platform.store.notifications.add_many([note])
    return link


class SignInThrottle:
    """Links to one address: at most one a minute and five an hour asked from one client
    address (an IPv6 client's /64), and twenty an hour from all of them. Nobody can make
    the shop mail a fan without end (or spend its mail server's reputation doing so), and
    someone asking for a fan's links on purpose from one address uses up that address's
    share, not the fan's."""

    def __init__(self, per_minute: int = 1, per_hour: int = 5, from_all: int = 20) -> None:
        hour = timedelta(hours=1)
        self._limits = ((timedelta(minutes=1), per_minute), (hour, per_hour))
        self._from_all = ((hour, from_all),)
        self._sent: dict[tuple[str, str], list[datetime]] = {}

    def allows(self, address: str, asker: str | None, now: datetime) -> bool:
        mine, everyone = (address, _network(asker)), (address, "*")
        if not (self._room(mine, self._limits, now) and self._room(everyone, self._from_all, now)):
            return False
        self._sent[mine].append(now)
        self._sent[everyone].append(now)
        if len(self._sent) > 100_000:  # forget those whose hour has passed
            self._sent = {
                k: ts for k, ts in self._sent.items() if ts and now - ts[-1] < timedelta(hours=1)
            }
        return True

    def _room(
        self, key: tuple[str, str], limits: tuple[tuple[timedelta, int], ...], now: datetime
    ) -> bool:
        recent = [t for t in self._sent.get(key, ()) if now - t < timedelta(hours=1)]
        self._sent[key] = recent
        return all(sum(1 for t in recent if now - t < span) < n for span, n in limits)


def _network(asker: str | None) -> str:
    """Who asks, as a limit counts them: an IPv4 address, or an IPv6 client's /64 (one
    host commonly holds a whole /64, so its addresses would each be a new asker)."""
    try:
        ip = ipaddress.ip_address(asker or "")
    except ValueError:
        return asker or ""
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


THROTTLE = SignInThrottle()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _sign(platform: Platform, payload: str) -> str:
    secret = await platform.store.secret("signin")
    return _b64(hmac.digest(secret, b"signin:" + payload.encode(), "sha256")[:24])


async def _sign_in_token(platform: Platform, fan_id: str, target: str) -> str:
    expires = int((platform.clock.now() + SIGN_IN_LIFETIME).timestamp())
    # the fan's token generation: "sign out everywhere" ends the links mailed before too
    generation = platform.tokens.generation(fan_id)
    payload = f"{fan_id}.{generation}.{expires}.{_b64(target.encode())}"
    return f"{payload}.{await _sign(platform, payload)}"


async def check_link(platform: Platform, token: str, *, spend: bool) -> tuple[str, str] | None:
    """The fan a link signs in and where it leads, or None for a link that does not work
    (forged, expired, from before "sign out everywhere", spent; `spend`: spend it now)."""
    payload, _dot, signature = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    if not hmac.compare_digest(signature.encode(), (await _sign(platform, payload)).encode()):
        return None
    fan_id, generation, expires, target = parts[0], int(parts[1]), int(parts[2]), parts[3]
    now = platform.clock.now()
    if expires < now.timestamp() or generation != platform.tokens.generation(fan_id):
        return None
    try:
        path = base64.urlsafe_b64decode(target + "=" * (-len(target) % 4)).decode()
    except ValueError:
        return None
    fan = await platform.store.fans.get(fan_id)
    if fan is None or fan.is_erased:
        return None
    # single use, also across a restart: the link's digest is spent in the store
    key = "signin:" + hashlib.sha256(signature.encode()).hexdigest()
    until = now + timedelta(seconds=expires - now.timestamp() + 60)
    if not spend:
        return None if await platform.store.links.spent(key) else (fan_id, safe_next(path))
    if not await platform.store.links.use(key, until, now):
        return None
    return fan_id, safe_next(path)
