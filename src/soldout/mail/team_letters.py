"""The maker's e-mails to their team (`engine/maker_news.py`): a launch sold out, money
given back that a person may want to look at, a refund a fan asked for. In English, as
the admin is; times in the shop's time zone; each links to its page in the admin.
"""

from __future__ import annotations

from datetime import timedelta

from soldout.engine.maker_news import TEAM_PAYMENT_RETURNED, TEAM_REFUND_ASKED, TEAM_SOLD_OUT
from soldout.mail.letter import Context, Letter, Writer

__all__ = ["TEAM_LETTERS", "took"]

_WHY = (
    "You get these e-mails as an owner or staff member of %s's team. Turn them off on"
    " the team page: %s"
)


def took(span: timedelta) -> str:
    """ "4 min 05 s", "2 h 03 min", "3 days 4 h": as long as it took, to the unit that
    matters."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def _small_print(c: Context) -> str:
    return _WHY % (c.shop.name, c.link("/admin/team"))


async def sold_out(c: Context) -> Letter:
    launch_id = c.data["launch_id"]
    title = c.title(launch_id) or c.data.get("title") or launch_id
    opened, gone = c.at("opened_at"), c.at("sold_out_at")
    revenue = [c.money(amount, currency) for currency, amount in c.data["revenue"].items()]
    paid, held = int(c.data["paid_units"]), int(c.data["held_units"])
    details = [("Launch", title)]
    if opened is not None and gone is not None:
        details += [("Opened", c.moment(opened)), ("Sold out", c.moment(gone))]
        details.append(("Took", took(gone - opened)))
    details += [("Units paid", str(paid)), ("Units held, not paid yet", str(held))]
    details.append(("Revenue so far", ", ".join(revenue) or "nothing paid yet"))
    if c.data.get("set_aside"):
        details.append(("Set aside for codes, unclaimed", str(c.data["set_aside"])))
    paragraphs = [f"Every unit of {title} is paid for or held by a fan."]
    if opened is not None and gone is not None:
        paragraphs[0] = f"Every unit of {title} is paid for or held, {took(gone - opened)}"
        paragraphs[0] += " after the sale opened."
    if held:
        paragraphs.append(
            "Held units whose claims expire unpaid go back on sale: this e-mail is sent once"
            " per launch, however often that happens."
        )
    return Letter(
        subject=f"Sold out: {title}",
        heading=f"{title} sold out",
        paragraphs=tuple(paragraphs),
        action=("See the launch", c.link(f"/admin/launches/{launch_id}")),
        details=tuple(details),
        small_print=_small_print(c),
    )


async def payment_returned(c: Context) -> Letter:
    payment_id, claim_id = c.data["payment_id"], c.data["claim_id"]
    payment = c.facts.payment(claim_id, payment_id)
    why = c.data.get("reason") or ""
    paragraphs = [
        f"A fan's payment was given back to them: {why}.",
        "Nothing needs undoing, but a fan who paid and has no order may write to you;"
        " the payment's page says what happened and when.",
    ]
    details = [("Payment", payment_id), ("Claim", claim_id)]
    if payment is not None:
        details.append(("Amount", c.money(payment.amount, payment.currency)))
    if c.data.get("released"):
        details.append(("Money", "only a hold on the card, released: no charge"))
    return Letter(
        subject=f"Payment {payment_id} given back",
        heading="A payment was given back",
        paragraphs=tuple(paragraphs),
        action=("See the payment", c.link(f"/admin/payments/{payment_id}")),
        details=tuple(details),
        small_print=_small_print(c),
    )


async def refund_asked(c: Context) -> Letter:
    order_id = c.data["order_id"]
    order = c.facts.order(order_id)
    paragraphs = [
        f"A fan cancelled order {order_id} before it shipped and was refunded in full.",
        "Do not ship it: its unit is back on sale.",
    ]
    details = [("Order", order_id)]
    if order is not None:
        details += [
            ("Item", c.item(order.launch_id, order.sku, order.quantity)),
            ("Refunded", c.money(order.total, order.currency)),
        ]
    return Letter(
        subject=f"Order {order_id} cancelled by the fan",
        heading="A fan cancelled an order",
        paragraphs=tuple(paragraphs),
        action=("See the order", c.link(f"/admin/orders/{order_id}")),
        details=tuple(details),
        small_print=_small_print(c),
    )


TEAM_LETTERS: dict[str, Writer] = {
    TEAM_SOLD_OUT: sold_out,
    TEAM_PAYMENT_RETURNED: payment_returned,
    TEAM_REFUND_ASKED: refund_asked,
}
