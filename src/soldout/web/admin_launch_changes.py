"""What the launch page's forms change (the schedule, pause and resume, Extend, cancel),
as a change for the catalogue and its audit entry; and what they refuse: a form never ends
a live sale by a time in the past, Extend only moves an existing close later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from soldout.domain.errors import InvalidInput
from soldout.domain.launches import Launch, same_second
from soldout.services import Platform
from soldout.services.catalog import LaunchChanges
from soldout.web.admin_forms import Form

__all__ = ["launch_change"]


def _refuse_unless_extends(launch: Launch, closes: datetime, now: datetime) -> None:
    """Extending moves an existing close later, and into the future: ending a sale early
    is cancelling it (or, through the API, giving an earlier `sale_closes_at`), and a sale
    with no close has nothing to extend."""
    if launch.sale_closes_at is None:
        raise InvalidInput(
            "this sale has no closing time, so there is nothing to extend; set one in"
            " Schedule and batch if it should close",
            field="sale_closes_at",
        )
    if closes <= now or closes <= launch.sale_closes_at:
        raise InvalidInput(
            "to extend the sale, give a closing time later than the current one and than now",
            field="sale_closes_at",
        )


def _refuse_a_past_close(launch: Launch, closes: datetime | None, now: datetime) -> None:
    """The schedule form does not end a sale by a close in the past (a typo would close a
    live sale at once): cancel it, or pause it, for that."""
    if closes is None or closes > now:
        return
    if launch.sale_closes_at is None or not same_second(closes, launch.sale_closes_at):
        raise InvalidInput(
            "the closing time is in the past, which would end the sale now; to stop it,"
            " pause or cancel it",
            field="sale_closes_at",
        )


def launch_change(
    platform: Platform, launch_id: str, action: str, form: Form
) -> tuple[str, dict[str, Any], LaunchChanges]:
    """(audit action, audit detail, the change) for one of the launch page's forms."""
    if action == "pause":
        return "launch.pause", {"paused": True}, LaunchChanges(paused=True)
    if action == "resume":
        return "launch.resume", {"paused": False}, LaunchChanges(paused=False)
    if action == "publish":
        return "launch.change", {"published": True}, LaunchChanges(published=True)
    if action == "cancel":
        if form.get("confirm") != "cancel":
            raise InvalidInput("tick the box to confirm the cancellation", field="confirm")
        return "launch.cancel", {"cancel": True}, LaunchChanges(cancel=True)
    shown = platform.engine.book(launch_id).launch  # (the times its form showed)
    closes = form.moment("sale_closes_at", "Sale closes", current=shown.sale_closes_at)
    if action == "extend":
        if closes is None:
            raise InvalidInput("give the new closing time", field="sale_closes_at")
        _refuse_unless_extends(platform.engine.book(launch_id).launch, closes, platform.clock.now())
        return (
            "launch.extend",
            {"sale_closes_at": closes.isoformat()},
            LaunchChanges(sale_closes_at=closes),
        )
    book = platform.engine.book(launch_id)
    grow = {
        code: form.integer(f"batch_{code}", f"Units of {code}", default=stock.batch)
        for code, stock in book.stock.items()
    }
    batch = {code: n for code, n in grow.items() if n != book.stock[code].batch}
    launch = book.launch
    title = form.get("title")
    if "title" in form.fields and not title:
        raise InvalidInput("the launch needs a title", field="title")
    opens = form.moment("sale_opens_at", "Sale opens", current=launch.sale_opens_at)
    if opens is not None and same_second(opens, launch.sale_opens_at):
        opens = None  # (as it was: the form shows it to the second)
    _refuse_a_past_close(launch, closes, platform.clock.now())
    changes = LaunchChanges(
        title=title if title and title != launch.title else None,
        sale_opens_at=opens,
        sale_closes_at=closes,
        batch=batch or None,
    )
    detail: dict[str, Any] = {}  # what changed (a form sends every field)
    if changes.title:
        detail["title"] = changes.title
    if batch:
        detail["batch"] = batch
    if opens:
        detail["sale_opens_at"] = opens.isoformat()
    was = launch.sale_closes_at
    if (closes is None) != (was is None) or (closes and was and not same_second(closes, was)):
        detail["sale_closes_at"] = closes.isoformat() if closes else None
    return "launch.change", detail, changes
