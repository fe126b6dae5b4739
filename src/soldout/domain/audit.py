"""The audit log: who did what to which launch, and when. Every admin action writes one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AuditEntry"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str  # "admin:<token fingerprint>"
    action: str  # e.g. launch.pause, launch.cancel, codes.issue, plan.set, order.refund
    subject: str  # the id acted on
    detail: dict[str, Any] = field(default_factory=dict)
