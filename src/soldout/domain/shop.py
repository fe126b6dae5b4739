"""The shop's own face: its name, logo and accent colour, set by the maker; where fans
write to it (`contact_email`), and the time zone its admin pages speak (`time_zone`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import tzinfo

from soldout.domain.errors import InvalidInput
from soldout.domain.fans import normalise_email
from soldout.domain.shop_time import shop_zone
from soldout.domain.text import check_text

__all__ = ["Shop"]

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True, slots=True)
class Shop:
    name: str = "soldout"
    tagline: str = ""
    accent: str = "#0b57d0"  # buttons and links; text on it is chosen for contrast
    logo: str | None = None  # a media id
    # fans' replies to its e-mails go there, and the storefront's footer names it
    contact_email: str | None = None
    time_zone: str = "UTC"  # IANA; the admin's pages show and read times in it

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 80:
            raise InvalidInput("the shop's name is 1 to 80 characters", field="name")
        if len(self.tagline) > 200:
            raise InvalidInput("the tagline is at most 200 characters", field="tagline")
        if not _COLOUR.match(self.accent):
            raise InvalidInput("the accent colour is #RRGGBB, e.g. #0b57d0", field="accent")

    def with_changes(self, **changes: object) -> Shop:
        """The shop with `changes`; a new name or tagline is checked as anything people
        write (`check_text`). Checked here rather than on every load: a name stored before
        the rule still reads back, and the maker can mend it."""
        for name, limit, required in (("name", 80, True), ("tagline", 200, False)):
            if name in changes and changes[name] != getattr(self, name):
                label = f"the shop's {name}"
                check_text(changes[name], field=name, limit=limit, required=required, label=label)
        if changes.get("contact_email"):
            changes["contact_email"] = _contact(str(changes["contact_email"]))
        if "time_zone" in changes and changes["time_zone"] != self.time_zone:
            shop_zone(str(changes["time_zone"]))
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def zone(self) -> tzinfo:
        """The admin's time zone; UTC if the stored name is no longer known here (a
        system without that zone's data must still show the shop)."""
        try:
            return shop_zone(self.time_zone)
        except InvalidInput:
            return shop_zone("UTC")

    @property
    def accent_ink(self) -> str:
        """Black or white, whichever reads better on the accent (WCAG relative luminance)."""
        luminance = _luminance(self.accent)
        return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"

    @property
    def accent_text(self) -> str:
        """The accent for links and words on the white page: itself when it reads there
        (WCAG AA, 4.5:1), else darkened, hue kept, until it does (a yellow accent made
        unreadable links)."""
        channels = [int(self.accent[i : i + 2], 16) for i in (1, 3, 5)]
        colour = self.accent
        while 1.05 / (_luminance(colour) + 0.05) < 4.5:
            channels = [c * 9 // 10 for c in channels]
            colour = "#" + "".join(f"{c:02x}" for c in channels)
        return colour


_UNQUOTED = re.compile(r'^[^<>()\[\]\\,;:"]+$')


def _contact(address: str) -> str:
    """The contact address as fans' mail programs will take it in a Reply-To: the fans'
    own rule (`normalise_email`), and nothing a header would need quoted."""
    try:
        kept = normalise_email(address)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="contact_email") from None
    if not _UNQUOTED.match(kept):
        raise InvalidInput("a valid e-mail address is required", field="contact_email")
    return kept


def _luminance(colour: str) -> float:
    """WCAG relative luminance of `#rrggbb`."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
