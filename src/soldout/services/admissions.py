""" "It is your turn": each fan the waiting room admits is told, in-app and by e-mail.

A fan can wait minutes in a queue and look away; the admission lasts two minutes. The room
admits inside a fan's poll (`Gate.on_admitted`, `engine/waiting_room.py`'s `on_admit`):
there the notice is only appended, and every notice of one turn of the event loop is
written in one background write, so neither a poll nor a claim waits for it. The e-mail
is written later, on the outbox's turn: by then a fan who claimed from the page at once
has no use for it, and it is dropped (`mail/sale_letters.py`). A notice not yet written
when the server stops is lost; a restarted room (it lives in memory) admits its fans
again, and tells them again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from soldout.domain.launches import Launch
from soldout.domain.notifications import Notification
from soldout.ids import new_id
from soldout.store.ports import NotificationRepository

__all__ = ["AdmissionNotices"]

log = logging.getLogger(__name__)


class AdmissionNotices:
    """`admitted` is the gate's `on_admitted`: a notice per admission, written after."""

    def __init__(self, notifications: NotificationRepository) -> None:
        self._notes = notifications
        self._pending: list[Notification] = []
        self._writes: set[asyncio.Future[None]] = set()

    def admitted(self, launch: Launch, fan_id: str, at: datetime, until: datetime) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(
            Notification(
                new_id("ntf"),
                fan_id,
                "admitted",
                f"It is your turn for {launch.title!r}: buy before"
                f" {until:%H:%M:%S} UTC, when your admission ends.",
                at,
                {
                    "launch_id": launch.id,
                    "admitted_at": at.isoformat(),
                    "expires_at": until.isoformat(),
                },
            )
        )

    def _flush(self) -> None:
        notes, self._pending = self._pending, []
        try:
            write = self._notes.add_many(notes)
        except Exception:  # the store has stopped: the claim path says so, not this
            log.exception("writing %d admission notices failed", len(notes))
            return
        self._writes.add(write)
        write.add_done_callback(self._written)

    def _written(self, write: asyncio.Future[None]) -> None:
        self._writes.discard(write)
        if not write.cancelled() and write.exception() is not None:
            log.error("writing admission notices failed: %s", write.exception())
