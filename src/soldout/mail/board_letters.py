"""The e-mails of the ideas board: an idea a fan voted for shipped in a release, and a
priority code for one of a product's top contributors."""

from __future__ import annotations

from soldout.i18n import gettext as _
from soldout.i18n import ngettext
from soldout.mail.letter import Context, Letter, Writer
from soldout.mail.sale_letters import code_letter

__all__ = ["BOARD_LETTERS"]


async def idea_shipped(c: Context) -> Letter:
    titles = [str(t) for t in c.data.get("idea_titles", [])]
    release = str(c.data.get("release_title", ""))
    values = {"release": release}
    return Letter(
        subject=_("You asked for it: %(release)s") % values,
        heading=_("It shipped in %(release)s") % values,
        paragraphs=(
            ngettext(
                "An idea you voted for is in %(release)s. Thank you for telling us what the"
                " product needs.",
                "Ideas you voted for are in %(release)s. Thank you for telling us what the"
                " product needs.",
                len(titles),
            )
            % values,
        ),
        action=(_("Read the release notes"), c.link(f"/releases/{c.data['release_id']}")),
        details=tuple((_("Idea"), title) for title in titles),
    )


async def contributor_code(c: Context) -> Letter:
    return code_letter(
        c,
        _("Thank you for shaping the product"),
        lambda n: _(
            "Your ideas and answers on the ideas board count among the most useful. Here"
            " is a priority code for %(title)s: it buys one unit outside the race, while"
            " units set aside for codes last."
        ),
    )


BOARD_LETTERS: dict[str, Writer] = {
    "idea_shipped": idea_shipped,
    "contributor_code": contributor_code,
}
