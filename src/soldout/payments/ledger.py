"""The `test` provider's own ledger: one line per payment, in SQLite.

With a path the ledger is its own SQLite file (WAL), and a provider opened later on the same
file sees every line; without one it lives in memory. Each call is one short statement in
autocommit mode, run on the event loop: a few tens of microseconds, and a caller cancelled
mid-call can never leave half a change behind. `synchronous=NORMAL` keeps a committed line
through a crash of the process (not of the machine, which a simulator need not survive).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from soldout.payments.port import Transaction

__all__ = ["Ledger", "Line", "LineStatus"]


class LineStatus(StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    VOIDED = "voided"
    DECLINED = "declined"


@dataclass(frozen=True, slots=True)
class Line:
    reference: str
    idempotency_key: str
    merchant_reference: str
    method: str
    card: str  # the behaviour the card token chose, never the token itself
    amount: int
    currency: str
    status: LineStatus
    captured: int = 0
    refunded: int = 0
    reason: str | None = None
    created: str = ""  # ISO 8601

    def transaction(self) -> Transaction:
        return Transaction(
            reference=self.reference,
            method=self.method,
            amount=self.amount,
            currency=self.currency,
            status=str(self.status),
            captured=self.captured,
            refunded=self.refunded,
            merchant_reference=self.merchant_reference,
        )


_COLUMNS = (
    "reference, idempotency_key, merchant_reference, method, card, amount, currency,"
    " status, captured, refunded, reason, created"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS lines (
    seq INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    idempotency_key TEXT NOT NULL UNIQUE,
    merchant_reference TEXT NOT NULL,
    method TEXT NOT NULL,
    card TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    captured INTEGER NOT NULL,
    refunded INTEGER NOT NULL,
    reason TEXT,
    created TEXT NOT NULL
)
"""


def _line(row: sqlite3.Row) -> Line:
    return Line(
        reference=row["reference"],
        idempotency_key=row["idempotency_key"],
        merchant_reference=row["merchant_reference"],
        method=row["method"],
        card=row["card"],
        amount=row["amount"],
        currency=row["currency"],
        status=LineStatus(row["status"]),
        captured=row["captured"],
        refunded=row["refunded"],
        reason=row["reason"],
        created=row["created"],
    )


class Ledger:
    def __init__(self, path: Path | None) -> None:
        if path is None:
            self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(_SCHEMA)

    def add(self, line: Line) -> Line:
        """Write `line` unless its idempotency key is taken; the line holding the key."""
        values = (
            line.reference,
            line.idempotency_key,
            line.merchant_reference,
            line.method,
            line.card,
            line.amount,
            line.currency,
            str(line.status),
            line.captured,
            line.refunded,
            line.reason,
            line.created,
        )
        self._conn.execute(
            f"INSERT INTO lines ({_COLUMNS}) VALUES ({', '.join('?' * len(values))})"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            values,
        )
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE idempotency_key = ?", (line.idempotency_key,)
        ).fetchone()
        return _line(row)

    def get(self, reference: str) -> Line | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE reference = ?", (reference,)
        ).fetchone()
        return None if row is None else _line(row)

    def move(
        self,
        reference: str,
        from_: Collection[LineStatus],
        to: LineStatus,
        *,
        captured: int | None = None,
        refunded: int | None = None,
        reason: str | None = None,
    ) -> bool:
        """Change the line's status if it is one of `from_`; whether it changed."""
        marks = ", ".join("?" * len(from_))
        cursor = self._conn.execute(
            "UPDATE lines SET status = ?, captured = coalesce(?, captured),"
            " refunded = coalesce(?, refunded), reason = coalesce(?, reason)"
            f" WHERE reference = ? AND status IN ({marks})",
            (str(to), captured, refunded, reason, reference, *(str(s) for s in from_)),
        )
        return cursor.rowcount == 1

    def of_merchant(self, merchant_reference: str) -> Line | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM lines WHERE merchant_reference = ? ORDER BY seq DESC",
            (merchant_reference,),
        ).fetchone()
        return None if row is None else _line(row)

    def lines(self) -> list[Line]:
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM lines ORDER BY seq").fetchall()
        return [_line(row) for row in rows]

    def close(self) -> None:
        self._conn.close()
