"""The e-mails of the sale itself: reserving, the opening, the draw, the waiting room, a
held claim, a declined payment, a cancelled launch, a priority code (signing in is
`sign_in_letters.py`'s)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from soldout.i18n import gettext as _
from soldout.i18n import ngettext
from soldout.mail.letter import Context, Letter, Obsolete, Writer

__all__ = ["SALE_LETTERS", "code_letter"]


async def reservation_confirmed(c: Context) -> Letter:
    launch = c.facts.launch(c.data["launch_id"])
    if launch is None or launch.cancelled_at is not None:
        raise Obsolete("the launch was cancelled")
    opens = launch.sale_opens_at  # as it is now, if the maker moved it since
    title = launch.title
    when = c.moment(opens)
    paragraphs: list[str]
    if launch.is_draw:
        subject = _("You are in the draw: %(title)s") % {"title": title}
        heading = _("You entered the draw for %(title)s") % {"title": title}
        paragraphs = [
            _(
                "The draw takes place when the sale opens, %(when)s. Winners get an e-mail"
                " with a link to pay; everyone else is told their place on the backup list."
            )
            % {"when": when}
        ]
    else:
        subject = _("You are on the list: %(title)s") % {"title": title}
        heading = _("You reserved %(title)s") % {"title": title}
        paragraphs = [_("The sale opens %(when)s.") % {"when": when}]
        reminder_at = opens - timedelta(minutes=c.reminder_minutes)
        if c.reminder_minutes and c.now < reminder_at:  # (not for a reservation that late)
            paragraphs.append(
                _("We will e-mail you %(minutes)s before it opens.")
                % {"minutes": c.minutes(c.reminder_minutes)}
            )
    sku = c.data.get("sku")
    label = _("Entry for") if launch.is_draw else _("Item")
    details = ((label, c.item(launch.id, sku)),) if sku else ()
    return Letter(
        subject=subject,
        heading=heading,
        paragraphs=tuple(paragraphs),
        action=(_("See the launch"), c.link(f"/launches/{launch.id}")),
        details=((_("Opens"), when), *details),
    )


async def sale_opening(c: Context) -> Letter:
    """ "Opens in N minutes", N counted when it is sent: the truth, even if it went late."""
    launch = c.facts.launch(c.data["launch_id"])
    told = c.at("sale_opens_at")
    if launch is None or launch.cancelled_at is not None:
        raise Obsolete("the launch was cancelled")
    if told != launch.sale_opens_at:
        raise Obsolete("the opening moved (the new time has its own reminder)")
    left = launch.sale_opens_at - c.now
    if left < timedelta(seconds=30):
        raise Obsolete("the sale opened before the reminder could be sent")
    minutes = c.minutes(max(1, round(left.total_seconds() / 60)))
    values = {"title": launch.title, "minutes": minutes, "time": c.when(launch.sale_opens_at)}
    if launch.is_draw:
        subject = _("The draw for %(title)s is in %(minutes)s") % values
        body = _(
            "The draw runs at %(time)s. You do not need to be online: we e-mail you the result."
        )
    else:
        subject = _("%(title)s opens in %(minutes)s") % values
        body = _(
            "The sale opens at %(time)s. Units are limited: be on the page when it opens, and"
            " have your payment details ready."
        )
    return Letter(
        subject=subject,
        heading=subject,
        paragraphs=(body % values,),
        action=(_("Go to the launch"), c.link(f"/launches/{launch.id}")),
    )


async def draw_won(c: Context) -> Letter:
    claim = c.facts.claim(c.data["claim_id"])
    if claim is None or not claim.is_held or c.now >= claim.expires_at:
        raise Obsolete("the unit is no longer held (paid, expired or cancelled)")
    item = c.item(claim.launch_id, claim.sku, claim.quantity)
    values = {"item": item, "when": c.when(claim.expires_at), "time": c.when(claim.expires_at)}
    if c.data.get("backup"):
        subject = _("A unit came free for you: pay by %(time)s") % values
        heading = _("A unit came back, and it is yours")
        first = _(
            "A drawn unit came back, and you were next on the backup list. One %(item)s is"
            " held for you until %(when)s."
        )
    else:
        subject = _("You won: pay by %(time)s") % values
        heading = _("You won %(item)s") % values
        first = _("One %(item)s is held for you until %(when)s.")
    if c.facts.backups_waiting(claim.launch_id, claim.sku) == 0:  # (the last backup, or none)
        after = _("Pay before then to make it yours. Nobody is left on the backup list to take it.")
    else:
        after = _(
            "Pay before then to make it yours; after that it goes to the next person on"
            " the backup list."
        )
    return Letter(
        subject=subject,
        heading=heading,
        paragraphs=(first % values, after),
        action=(_("Pay now"), c.link(f"/claims/{claim.id}")),
        details=(
            (_("Item"), item),
            (_("Price"), c.money(claim.unit_price * claim.quantity, claim.currency)),
            (_("Pay by"), c.moment(claim.expires_at)),
        ),
    )


async def draw_lost(c: Context) -> Letter:
    launch_id = c.data["launch_id"]
    values = {
        "title": c.title(launch_id),
        "place": c.speaker.number(int(c.data.get("backup_place") or 0)),
        "item": c.item(launch_id, c.data.get("sku")),
    }
    return Letter(
        subject=_("The draw for %(title)s: number %(place)s on the backup list") % values,
        heading=_("Not drawn this time"),
        paragraphs=(
            _("You were not drawn for %(title)s.") % values,
            _(
                "You are number %(place)s on the backup list for %(item)s. A unit a winner"
                " does not pay for in time, or gives back, goes to the next person on the"
                " list. If that is you, we e-mail you at once."
            )
            % values,
        ),
        action=(_("See the draw"), c.link(f"/launches/{launch_id}")),
    )


async def admitted(c: Context) -> Letter:
    expires = c.at("expires_at")
    if expires is not None and c.now >= expires:
        raise Obsolete("the admission expired before it could be sent")
    launch_id = c.data["launch_id"]
    # written by the outbox seconds or minutes after the admission: by then the fan may
    # have bought through it, and "it is your turn, buy" would only confuse
    if c.facts.has_units(c.note.fan_id, launch_id):
        raise Obsolete("the fan already holds or bought a unit of the launch")
    values = {"title": c.title(launch_id), "time": c.when(expires) if expires else ""}
    return Letter(
        subject=_("It is your turn: %(title)s") % values,
        heading=_("It is your turn"),
        paragraphs=(
            _(
                "You are through the waiting room for %(title)s. Buy before %(time)s; after"
                " that your turn passes to the next in line."
            )
            % values,
        ),
        action=(_("Buy now"), c.link(f"/launches/{launch_id}")),
    )


async def claim_expiring(c: Context) -> Letter:
    claim = c.facts.claim(c.data["claim_id"])
    if claim is None or not claim.is_held:
        raise Obsolete("the claim is no longer held (paid, expired or cancelled)")
    left = claim.expires_at - c.now
    if left < timedelta(seconds=30):
        raise Obsolete("the claim's window ended before the reminder could be sent")
    launch = c.facts.launch(claim.launch_id)
    item = c.item(claim.launch_id, claim.sku, claim.quantity)
    values = {
        "item": item,
        "minutes": c.minutes(max(1, int(left.total_seconds() // 60))),
        "time": c.when(claim.expires_at),
    }
    if launch is None or not launch.is_draw:
        after = _("You have until %(time)s to pay. After that, the unit goes back on sale.")
    elif c.facts.backups_waiting(claim.launch_id, claim.sku) == 0:  # (the last backup, or none)
        after = _(
            "You have until %(time)s to pay. Nobody is left on the draw's backup list to take it."
        )
    else:  # a unit let go goes down the backup list
        after = _(
            "You have until %(time)s to pay. After that, the unit passes to the next fan on"
            " the draw's backup list."
        )
    return Letter(
        subject=_("%(minutes)s left to pay for %(item)s") % values,
        heading=_("Your %(item)s is still held for you") % values,
        paragraphs=(after % values,),
        action=(_("Pay now"), c.link(f"/claims/{claim.id}")),
        details=(
            (_("Item"), item),
            (_("Price"), c.money(claim.unit_price * claim.quantity, claim.currency)),
            (_("Pay by"), c.moment(claim.expires_at)),
        ),
    )


async def payment_declined(c: Context) -> Letter:
    claim = c.facts.claim(c.data["claim_id"])
    if claim is None or not claim.is_held or c.now >= claim.expires_at:
        raise Obsolete("the claim is no longer held: nothing can be paid again")
    values = {
        "item": c.item(claim.launch_id, claim.sku, claim.quantity),
        "time": c.when(claim.expires_at),
    }
    return Letter(
        subject=_("Your payment was declined"),
        heading=_("Your payment was declined"),
        paragraphs=(
            _(
                "Your payment for %(item)s was declined, and nothing was charged. The unit"
                " stays held for you until %(time)s: you can pay again with another card."
            )
            % values,
        ),
        action=(_("Pay again"), c.link(f"/claims/{claim.id}")),
    )


async def launch_cancelled(c: Context) -> Letter:
    launch_id = c.data["launch_id"]
    values = {"title": c.title(launch_id)}
    bought = c.data.get("bought")  # said by the cancellation itself (older notes: looked up)
    if bought if isinstance(bought, bool) else c.facts.bought(c.note.fan_id, launch_id):
        body = _(
            "Your paid order stands: it ships as planned, unless you cancel it for a full refund."
        )
    elif c.data.get("held") is False and c.data.get("draw"):
        body = _("Your entry in its draw was cancelled with it. Nothing was charged.")
    elif c.data.get("held") is False:
        body = _("Your reservation was cancelled with it. Nothing was charged.")
    else:
        body = _("Any unit you held was released, and nothing was charged for it.")
    return Letter(
        subject=_("Cancelled: %(title)s") % values,
        heading=_("%(title)s was cancelled") % values,
        paragraphs=(_("The maker cancelled the launch of %(title)s.") % values, body),
        action=(_("Your account"), c.link("/me")),
    )


def code_letter(c: Context, heading: str, said: Callable[[int], str]) -> Letter:
    """A letter that gives the fan priority codes for a launch: `said(n)` is its words
    for n codes, with `%(title)s` for the launch."""
    launch_id = c.data["launch_id"]
    codes = [str(code) for code in c.data.get("codes", [])]
    values = {"title": c.title(launch_id)}
    return Letter(
        subject=ngettext(
            "A priority code for %(title)s", "Priority codes for %(title)s", len(codes)
        )
        % values,
        heading=heading,
        paragraphs=(said(len(codes)) % values,),
        action=(_("Go to the launch"), c.link(f"/launches/{launch_id}")),
        details=tuple((_("Code"), code) for code in codes),
    )


async def priority_code_granted(c: Context) -> Letter:
    return code_letter(
        c,
        _("Thank you for spreading the word"),
        lambda n: ngettext(
            "Fans you brought bought from %(title)s. Here is a priority code: it buys one"
            " unit outside the race, while units set aside for codes last.",
            "Fans you brought bought from %(title)s. Here are priority codes: each buys"
            " one unit outside the race, while units set aside for codes last.",
            n,
        ),
    )


SALE_LETTERS: dict[str, Writer] = {
    "reservation_confirmed": reservation_confirmed,
    "sale_opening": sale_opening,
    "draw_won": draw_won,
    "draw_lost": draw_lost,
    "admitted": admitted,
    "claim_expiring": claim_expiring,
    "payment_declined": payment_declined,
    "launch_cancelled": launch_cancelled,
    "priority_code_granted": priority_code_granted,
}
