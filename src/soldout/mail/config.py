"""Where e-mail goes: `SOLDOUT_SMTP_URL` read into an `SmtpConfig`.

    smtp://user:pass@mail.example.com:587   STARTTLS (required when there is a password)
    smtp://mail.example.com:587?starttls=required
    smtps://user:pass@mail.example.com:465  TLS from the first byte
    smtp://127.0.0.1:1025                   plain, for a relay on this machine

A password never travels in the clear by default: with credentials, STARTTLS is required
unless the relay is on loopback (a local relay that offers no TLS is common and safe).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["SmtpConfig", "Tls"]


class Tls(StrEnum):
    IMPLICIT = "implicit"  # smtps://: TLS from the start (port 465)
    REQUIRED = "required"  # STARTTLS, and refuse a server that does not offer it
    OPPORTUNISTIC = "opportunistic"  # STARTTLS when offered
    OFF = "off"  # never (a loopback relay)


_STARTTLS = {
    "required": Tls.REQUIRED,
    "opportunistic": Tls.OPPORTUNISTIC,
    "auto": Tls.OPPORTUNISTIC,
    "off": Tls.OFF,
    "never": Tls.OFF,
}


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    tls: Tls
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0) -> SmtpConfig:
        """Raise ValueError (naming what is wrong, never the password) on a bad URL."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            # (the parser's own message may quote a piece of the password: never shown)
            raise ValueError(
                "SOLDOUT_SMTP_URL is not a URL: URL-encode the user and the password"
                " (a '#', '/', '?' or '@' in them is %23, %2F, %3F, %40)"
            ) from None
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SOLDOUT_SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("SOLDOUT_SMTP_URL names no host")
        if parts.path not in ("", "/"):
            raise ValueError("SOLDOUT_SMTP_URL takes no path")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"starttls"}
        if unknown:
            raise ValueError(f"SOLDOUT_SMTP_URL has an unknown option: {sorted(unknown)[0]}")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        if parts.scheme == "smtps":
            if "starttls" in query:
                raise ValueError("smtps:// is TLS from the start: starttls does not apply")
            tls = Tls.IMPLICIT
        elif "starttls" in query:
            wanted = query["starttls"][-1].lower()
            if wanted not in _STARTTLS:
                raise ValueError("starttls is one of: required, opportunistic, off")
            tls = _STARTTLS[wanted]
        elif username and not _loopback(parts.hostname):
            tls = Tls.REQUIRED  # a password is not sent in the clear over a network
        else:
            tls = Tls.OPPORTUNISTIC
        if username and not _loopback(parts.hostname):
            if tls is Tls.OFF:
                raise ValueError("a password is only sent without TLS to a relay on loopback")
            if tls is Tls.OPPORTUNISTIC:  # a relay made to hide STARTTLS would get it in clear
                tls = Tls.REQUIRED
        default_port = 465 if tls is Tls.IMPLICIT else 587
        return cls(parts.hostname, port or default_port, tls, username, password, timeout)

    @property
    def redacted(self) -> str:
        """The URL as it is safe to log: the password never appears."""
        scheme = "smtps" if self.tls is Tls.IMPLICIT else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port} (TLS: {self.tls.value})"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
