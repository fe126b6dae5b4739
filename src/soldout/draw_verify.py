"""Check a published draw from a file or a URL, trusting nothing but the document itself.

ok, lines = verify_source("https://shop.example/api/v1/launches/lau_1/draw")
print("\\n".join(lines))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from soldout.domain.draw_check import Verification, verify

if TYPE_CHECKING:
    import httpx

__all__ = ["verify_source"]

TIMEOUT_SECONDS = 10.0


def verify_source(
    source: str, *, transport: httpx.BaseTransport | None = None
) -> tuple[bool, list[str]]:
    """Read a draw document from a path or an http(s) URL and verify it.

    Returns whether it verifies, and the lines to print: a summary, then the problems.
    """
    raw, problem = _read(source, transport)
    if problem is not None:
        return False, [problem]
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return False, [f"{source} is not JSON: {exc}"]
    if not isinstance(document, dict):
        return False, [f"{source} is not a draw document: expected a JSON object"]
    verification = verify(document)
    return verification.ok, _summary(verification)


def _read(source: str, transport: httpx.BaseTransport | None) -> tuple[bytes, str | None]:
    if urlsplit(source).scheme.lower() in {"http", "https"}:
        return _fetch(source, transport)
    try:
        return Path(source).read_bytes(), None
    except OSError as exc:
        return b"", f"cannot read {source}: {exc.strerror or exc}"


def _fetch(url: str, transport: httpx.BaseTransport | None) -> tuple[bytes, str | None]:
    try:
        import httpx
    except ImportError:
        return b"", "reading a draw from a URL needs the httpx package (pip install httpx)"
    try:
        with httpx.Client(
            timeout=TIMEOUT_SECONDS, transport=transport, follow_redirects=True
        ) as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        return b"", f"cannot fetch {url}: {exc or type(exc).__name__}"
    if not response.is_success:
        return b"", f"cannot fetch {url}: it answered {response.status_code}"
    return response.content, None


def _summary(verification: Verification) -> list[str]:
    launch = verification.launch_id or "?"
    lines = [f"Draw of launch {launch}: {_count(verification.entries)} entries"]
    for t in verification.tallies:
        lines.append(
            f"  {t.sku}: {t.units} units, {_count(t.entries)} entries,"
            f" {_count(t.winners)} winners, {_count(t.backups)} backups"
        )
    if verification.entries is not None and verification.tallies:
        ignored = verification.entries - sum(t.entries or 0 for t in verification.tallies)
        if ignored:
            lines.append(f"  {ignored} entries for SKUs without units (not drawn)")
    if verification.ok:
        lines.append("OK: the seed matches the commitment and the result is its draw")
    else:
        lines.append("FAILED: the document does not verify")
        lines.extend(f"  - {problem}" for problem in verification.problems)
    return lines


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)
