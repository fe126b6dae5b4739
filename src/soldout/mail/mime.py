"""The bytes of a multipart/alternative message (plain text and HTML), written directly.

Python's `email.message.EmailMessage` spent about 2.5 ms on each message here (its header
registry builds a class per header, its folding parses every header again): 250 s of
the event loop for 100,000 reminders. This writes the same MIME in about 0.1 ms: headers
encoded by `email.header.Header` / `email.utils.formataddr` (RFC 2047 for anything not
ASCII), both bodies in quoted-printable, or base64 when that is smaller (Chinese: about half
of qp's size). The result is 7-bit: any relay takes it, with or without
8BITMIME or SMTPUTF8. `tests/unit/test_mail_compose.py` parses it back with the standard
library's parser.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from email.header import Header
from email.utils import formataddr

__all__ = ["address", "multipart", "unstructured"]

_CRLF = "\r\n"


def _flat(value: str) -> str:
    """No line breaks inside a header value: a name or a title cannot add a header."""
    return " ".join(value.split()) if ("\r" in value or "\n" in value) else value


def unstructured(name: str, value: str) -> str:
    """`Name: value`, RFC 2047-encoded if need be and folded at 78 characters."""
    value = _flat(value)
    if value.isascii() and len(value) + len(name) < 76:
        return f"{name}: {value}"
    charset = "us-ascii" if value.isascii() else "utf-8"
    encoded = Header(value, charset, maxlinelen=76, header_name=name).encode(linesep=_CRLF)
    return f"{name}: {encoded}"


def address(name: str, display: str, addr: str) -> str:
    """`Name: "Display Name" <addr>` with the display name encoded if need be."""
    return f"{name}: {formataddr((_flat(display), addr), charset='utf-8')}"


def _body(text: str) -> tuple[str, bytes]:
    """Quoted-printable, unless base64 is smaller (text mostly outside ASCII)."""
    raw = text.replace("\r\n", "\n").encode("utf-8")
    qp = binascii.b2a_qp(raw, quotetabs=False, istext=True)
    if len(qp) * 3 > len(raw) * 4:
        return "base64", base64.encodebytes(raw).replace(b"\n", b"\r\n")
    return "quoted-printable", qp.replace(b"\n", b"\r\n")


def multipart(headers: list[str], text: str, html: str) -> bytes:
    """The whole message: `headers` (already encoded lines), then the two alternatives."""
    boundary = "=_soldout_" + secrets.token_hex(12)
    out = [*headers, "MIME-Version: 1.0"]
    out.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    head = (_CRLF.join(out) + _CRLF + _CRLF).encode("ascii")
    parts = [head, b"This is a MIME message: text and HTML.\r\n"]
    for subtype, content in (("plain", text), ("html", html)):
        encoding, body = _body(content)
        parts.append(
            (
                f"{_CRLF}--{boundary}{_CRLF}"
                f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}'
                f"Content-Transfer-Encoding: {encoding}{_CRLF}{_CRLF}"
            ).encode("ascii")
        )
        parts.append(body)
    parts.append(f"{_CRLF}--{boundary}--{_CRLF}".encode("ascii"))
    return b"".join(parts)
