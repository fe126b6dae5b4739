"""The e-mails of a maker's change to a launch its fans wait for: an opening moved."""

from __future__ import annotations

from datetime import timedelta

from soldout.i18n import gettext as _
from soldout.mail.letter import Context, Letter, Obsolete, Writer

__all__ = ["LAUNCH_LETTERS"]


async def opening_moved(c: Context) -> Letter:
    """The old and the new time, from the notice (what the fan was told, what it is now);
    a notice the maker overtook with another move is dropped: the later one says it."""
    launch = c.facts.launch(c.data["launch_id"])
    before, after = c.at("before"), c.at("after")
    if launch is None or launch.cancelled_at is not None:
        raise Obsolete("the launch was cancelled")
    if before is None or after != launch.sale_opens_at:
        raise Obsolete("the opening moved again (the later move has its own message)")
    values = {"title": launch.title, "before": c.when(before), "after": c.when(after)}
    paragraphs: list[str]
    if launch.is_draw:
        subject = _("New time for the draw for %(title)s") % values
        heading = _("The draw for %(title)s moved") % values
        paragraphs = [
            _("The maker moved the draw for %(title)s from %(before)s to %(after)s.") % values,
            _("Your entry stands: you do not need to do anything."),
        ]
    else:
        subject = _("New opening time for %(title)s") % values
        heading = _("The opening of %(title)s moved") % values
        paragraphs = [
            _("The maker moved the opening of %(title)s from %(before)s to %(after)s.") % values,
            _("Your reservation stands: you do not need to do anything."),
        ]
        reminder_at = after - timedelta(minutes=c.reminder_minutes)
        if c.reminder_minutes and c.now < reminder_at:
            paragraphs.append(
                _("We will e-mail you %(minutes)s before it opens.")
                % {"minutes": c.minutes(c.reminder_minutes)}
            )
    return Letter(
        subject=subject,
        heading=heading,
        paragraphs=tuple(paragraphs),
        action=(_("See the launch"), c.link(f"/launches/{launch.id}")),
        details=((_("Opens"), c.moment(after)), (_("Was to open"), c.moment(before))),
    )


LAUNCH_LETTERS: dict[str, Writer] = {"opening_moved": opening_moved}
