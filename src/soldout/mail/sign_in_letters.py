"""The sign-in link's e-mail, in the words of why it was sent: asked for on `/signin`;
a new account's first (`joined`); or someone joined with an address that already has an
account (`join_again`): the join page answers the same either way, so only the mailbox's
owner learns that the address was known."""

from __future__ import annotations

from soldout.i18n import gettext as _
from soldout.mail.letter import Context, Letter, Obsolete, Writer

__all__ = ["SIGN_IN_LETTERS"]


async def sign_in_link(c: Context) -> Letter:
    expires = c.at("expires_at")
    if expires is not None and c.now >= expires:
        raise Obsolete("the sign-in link expired before it could be sent")
    shop = c.shop.name
    values = {"shop": shop, "time": c.when(expires) if expires else ""}
    # the shop's configured address, never the Host a request to /signin claimed
    action = (_("Sign in"), c.link(str(c.data["path"])))
    reason = c.data.get("reason")
    if reason == "joined":
        return Letter(
            subject=_("Welcome to %(shop)s: your sign-in link") % values,
            heading=_("Welcome to %(shop)s") % values,
            paragraphs=(
                _(
                    "Press the button to finish joining and sign in. The link works once,"
                    " until %(time)s."
                )
                % values,
            ),
            action=action,
            small_print=_(
                "If you did not join %(shop)s, ignore this e-mail: nobody can sign in"
                " without this link."
            )
            % values,
        )
    if reason == "join_again":
        return Letter(
            subject=_("You already have an account at %(shop)s") % values,
            heading=_("You already have an account at %(shop)s") % values,
            paragraphs=(
                _(
                    "Someone tried to join %(shop)s with this e-mail address, which already"
                    " has an account. If it was you, press the button to sign in. The link"
                    " works once, until %(time)s."
                )
                % values,
            ),
            action=action,
            small_print=_(
                "If it was not you, ignore this e-mail: nobody can sign in without this"
                " link, and your account stays as it was."
            ),
        )
    return Letter(
        subject=_("Your sign-in link for %(shop)s") % values,
        heading=_("Sign in to %(shop)s") % values,
        paragraphs=(
            _("Press the button to sign in. The link works once, until %(time)s.") % values,
        ),
        action=action,
        small_print=_(
            "If you did not ask to sign in, ignore this e-mail: nobody can sign in without"
            " this link."
        ),
    )


SIGN_IN_LETTERS: dict[str, Writer] = {"sign_in_link": sign_in_link}
