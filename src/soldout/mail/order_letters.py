"""The e-mails after a payment: the order confirmed with its ship date, the date moved,
shipped with tracking, its tracking number set later or corrected, refunded in full or in
part; and a payment refunded because its unit was gone."""

from __future__ import annotations

from soldout.domain.claims import Order
from soldout.i18n import gettext as _
from soldout.mail.letter import Context, Letter, Writer

__all__ = ["ORDER_LETTERS"]


def _order(c: Context) -> Order:
    order = c.facts.order(c.data["order_id"])
    if order is None:
        raise LookupError(f"order {c.data['order_id']} is not known")
    return order


def _see(c: Context, order: Order) -> tuple[str, str]:
    return (_("See your order"), c.link(f"/orders/{order.id}"))


def _about(c: Context, order: Order) -> list[tuple[str, str]]:
    return [
        (_("Order"), order.id),
        (_("Item"), c.item(order.launch_id, order.sku, order.quantity)),
    ]


def _ship_to(c: Context, order: Order) -> list[tuple[str, str]]:
    if order.shipping is None:
        return []
    return [(_("Ship to"), ", ".join(order.shipping.lines(c.speaker.locale)))]


async def order_confirmed(c: Context) -> Letter:
    order = _order(c)
    day = c.data.get("ship_date")  # the date this message told (later moves have their own)
    total = c.money(order.total, order.currency)
    paragraphs = [_("We received your payment of %(total)s.") % {"total": total}]
    if day:
        paragraphs.append(_("It ships on %(date)s.") % {"date": c.speaker.day(day)})
    else:
        paragraphs.append(
            _("Its ship date follows once production is planned; we will e-mail it to you.")
        )
    details = [*_about(c, order), (_("Total"), total)]
    if day:
        details.append((_("Ships on"), c.speaker.day(day)))
    return Letter(
        subject=_("Order confirmed: %(item)s") % {"item": c.item(order.launch_id, order.sku)},
        heading=_("Thank you: your order is confirmed"),
        paragraphs=tuple(paragraphs),
        action=_see(c, order),
        details=(*details, *_ship_to(c, order)),
    )


async def ship_date_changed(c: Context) -> Letter:
    order = _order(c)
    after, before = c.data.get("after"), c.data.get("before")
    values = {
        "order": order.id,
        "after": c.speaker.day(after),
        "before": c.speaker.day(before),
    }
    heading = _("Your ship date moved")
    if after is None:
        subject = _("Your order has no ship date for now")
        body = _(
            "Your order %(order)s has no ship date until more units are made; we will e-mail"
            " you its new date."
        )
    elif before is None:  # its first date: nothing moved
        subject = _("Your order ships on %(after)s") % values
        heading = _("Your order has a ship date")
        body = _("Your order %(order)s now ships on %(after)s.")
    else:
        subject = _("New ship date for your order: %(after)s") % values
        body = _("Your order %(order)s now ships on %(after)s (it was %(before)s).")
    return Letter(
        subject=subject,
        heading=heading,
        paragraphs=(body % values,),
        action=_see(c, order),
        details=tuple(_about(c, order)),
    )


async def order_shipped(c: Context) -> Letter:
    order = _order(c)
    carrier = str(c.data.get("carrier") or order.carrier or "")
    tracking = c.data.get("tracking") or order.tracking_number
    details = [*_about(c, order), (_("Carrier"), carrier)]
    if tracking:
        details.append((_("Tracking number"), str(tracking)))
    return Letter(
        subject=_("Shipped: %(item)s") % {"item": c.item(order.launch_id, order.sku)},
        heading=_("Your order is on its way"),
        paragraphs=(
            _("Your order %(order)s was shipped by %(carrier)s.")
            % {"order": order.id, "carrier": carrier},
        ),
        action=_see(c, order),
        details=(*details, *_ship_to(c, order)),
    )


async def tracking_changed(c: Context) -> Letter:
    order = _order(c)
    values = {
        "order": order.id,
        "carrier": str(c.data.get("carrier") or ""),
        "tracking": str(c.data.get("tracking") or ""),
        "before": str(c.data.get("before") or ""),
    }
    paragraphs = [_("Your order %(order)s travels with %(carrier)s.") % values]
    if values["before"]:
        paragraphs.append(
            _("This tracking number replaces %(before)s, which we sent you earlier.") % values
        )
    details = [*_about(c, order), (_("Carrier"), values["carrier"])]
    return Letter(
        subject=_("Tracking number for %(item)s") % {"item": c.item(order.launch_id, order.sku)},
        heading=_("Your order's tracking number"),
        paragraphs=tuple(paragraphs),
        action=_see(c, order),
        details=(*details, (_("Tracking number"), values["tracking"]), *_ship_to(c, order)),
    )


def _refund_reason(reason: str) -> str:
    """A refund's reason in the fan's language when soldout wrote it (a maker's own words
    are shown as written), as the order page shows it."""
    ours = {
        "cancelled by the fan": _("you cancelled this order"),  # services/fans.py
        "refunded by the payment provider": _("refunded through the payment provider"),
        "cancelled: several accounts share one address or phone": _(
            "several accounts share one address or phone"
        ),
    }
    return ours.get(reason, reason)


async def order_refunded(c: Context) -> Letter:
    order = _order(c)
    # what this refund gave back: what part refunds had left (before them: the total)
    total = c.money(int(c.data.get("amount", order.total)), order.currency)
    paragraphs = [
        _(
            "We refunded %(total)s for your order %(order)s. It can take a few days to show"
            " on your statement."
        )
        % {"total": total, "order": order.id}
    ]
    reason = await c.facts.refund_reason(order.id)
    details = [*_about(c, order), (_("Refunded"), total)]
    if reason:
        details.append((_("Reason"), _refund_reason(reason)))
    return Letter(
        subject=_("Refunded: your order %(order)s") % {"order": order.id},
        heading=_("Your order was refunded"),
        paragraphs=tuple(paragraphs),
        action=_see(c, order),
        details=tuple(details),
    )


async def order_refunded_part(c: Context) -> Letter:
    order = _order(c)
    amount = c.money(int(c.data["amount"]), order.currency)
    return Letter(
        subject=_("Part of your order %(order)s was refunded") % {"order": order.id},
        heading=_("We refunded part of your order"),
        paragraphs=(
            _(
                "We refunded %(amount)s of your order %(order)s. Your order stands: it ships"
                " as planned. The refund can take a few days to show on your statement."
            )
            % {"amount": amount, "order": order.id},
        ),
        action=_see(c, order),
        details=(
            *_about(c, order),
            (_("Refunded"), amount),
            (_("Reason"), str(c.data.get("reason") or "")),
        ),
    )


async def payment_refunded(c: Context) -> Letter:
    claim_id = str(c.data.get("claim_id") or "")
    claim = c.facts.claim(claim_id)
    payment = c.facts.payment(claim_id, str(c.data.get("payment_id") or ""))
    values = {
        "amount": c.money(payment.amount, payment.currency) if payment else "",
        "item": c.item(claim.launch_id, claim.sku, claim.quantity) if claim else "",
    }
    why = c.data.get("why")
    if c.data.get("released"):  # only a hold on the card, released
        return Letter(
            subject=_("Your payment was cancelled: nothing was charged"),
            heading=_("Nothing was charged"),
            paragraphs=(
                _(
                    "Your payment of %(amount)s for %(item)s was cancelled before any money was"
                    " taken: the amount your bank held for it is released."
                )
                % values,
            ),
            action=(_("Your account"), c.link("/me")),
        )
    if why == "given_up":
        said = _(
            "Your payment of %(amount)s for %(item)s was refunded in full: it came through"
            " after you had cancelled it on the payment page or started another payment."
            " What you paid through another payment is not affected."
        )
    elif why == "unrecorded":
        said = _(
            "Your payment of %(amount)s for %(item)s was refunded in full: the order could"
            " not be recorded. The unit may still be held for you: see your account."
        )
    else:
        said = _(
            "Your payment of %(amount)s for %(item)s was refunded in full: the unit it was"
            " for was no longer held for you when the payment came through. Nothing was"
            " charged in the end."
        )
    return Letter(
        subject=_("Your payment was refunded"),
        heading=_("Your payment was refunded in full"),
        paragraphs=(said % values,),
        action=(_("Your account"), c.link("/me")),
    )


ORDER_LETTERS: dict[str, Writer] = {
    "order_confirmed": order_confirmed,
    "ship_date_changed": ship_date_changed,
    "order_shipped": order_shipped,
    "tracking_changed": tracking_changed,
    "order_refunded": order_refunded,
    "order_refunded_part": order_refunded_part,
    "payment_refunded": payment_refunded,
}
