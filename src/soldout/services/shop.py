"""The shop's own face: its name, tagline, accent colour and logo, and what pages and
browsers are served from them (favicons, the accent as CSS); its contact address and
the admin's time zone.

A page's `<head>` links each asset with `?v=<look_version(shop)>`: the version changes
whenever the look does, so the assets can be cached for a day without a changed logo
waiting for the cache to run out. Browsers that ask for `/favicon.ico` by themselves get
it too, cached for the same day.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from soldout.clock import Clock
from soldout.domain.shop import Shop
from soldout.services.media import MediaLibrary
from soldout.store.ports import Store

__all__ = ["ICONS", "Asset", "ShopSettings", "look_version", "shop_css"]


@dataclass(frozen=True, slots=True)
class Asset:
    data: bytes
    content_type: str

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.data).hexdigest()[:32] + '"'


# icon kind -> (suffix of the logo's media item, content type, side of the default icon)
ICONS = {
    "ico": ("-icon.ico", "image/x-icon", 48),
    "png": ("-icon.png", "image/png", 192),
    "touch": ("-touch.png", "image/png", 180),
}


def look_version(shop: Shop) -> str:
    """Changes whenever anything a favicon or the accent CSS is made from changes."""
    basis = f"{shop.logo}|{shop.accent}|{shop.name.strip()[:1].upper()}"
    return hashlib.sha256(basis.encode()).hexdigest()[:10]


def shop_css(shop: Shop) -> str:
    """The accent as CSS custom properties, for pages whose policy forbids inline styles:
    `--accent`, `--accent-ink` (text on the accent) and `--accent-text` (the accent as
    text on the white page, darkened if it would not read) for the storefront, the same
    as `--shop-accent...` for pages with an accent of their own (the admin's preview of
    the shop)."""
    accent, ink, text = shop.accent, shop.accent_ink, shop.accent_text
    return (
        f":root {{ --accent: {accent}; --accent-ink: {ink}; --accent-text: {text};"
        f" --shop-accent: {accent}; --shop-accent-ink: {ink}; --shop-accent-text: {text}; }}\n"
    )


class ShopSettings:
    """Reads and changes the shop's look; serves its icons. Cheap to make per request."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._media = MediaLibrary(store.media, clock, store.transaction)

    async def get(self) -> Shop:
        return await self._store.shop.get()

    async def change(
        self,
        *,
        name: str,
        tagline: str,
        accent: str,
        contact_email: str | None = None,
        time_zone: str | None = None,
        logo: bytes | None = None,
        remove_logo: bool = False,
    ) -> tuple[Shop, Shop]:
        """The shop before and after. A new logo is checked like any image, and its
        favicons are made (`MediaLibrary.add_logo`); the shop is checked (`Shop`) before
        the image is processed, so a wrong colour costs no imaging. The contact address
        and the zone stay as they are when not given (None); an empty address removes it,
        an empty zone is UTC."""
        before = await self.get()
        after = before.with_changes(
            name=name.strip(), tagline=tagline.strip(), accent=accent.strip().lower()
        )
        if contact_email is not None:
            after = after.with_changes(contact_email=contact_email.strip() or None)
        if time_zone is not None:
            after = after.with_changes(time_zone=time_zone.strip() or "UTC")
        if remove_logo:
            after = after.with_changes(logo=None)
        if logo:
            after = after.with_changes(logo=(await self._media.add_logo(logo, field="logo")).id)
        await self._store.shop.put(after)
        return before, after

    async def icon(self, kind: str) -> Asset:
        """The favicon `kind` ("ico", "png" or "touch"): from the logo when there is one,
        else a letter on the accent colour."""
        suffix, content_type, side = ICONS[kind]
        shop = await self.get()
        if shop.logo:
            item = await self._media.get(shop.logo + suffix)
            if item is not None:
                return Asset(item.data, item.content_type)
        letter = shop.name.strip()[:1].upper()
        if not (letter.isascii() and letter.isalnum()):
            letter = ""  # the built-in font has Latin letters and digits only
        icon = _letter_icon(letter, shop.accent, shop.accent_ink, side, kind)
        return Asset(icon, content_type)


@functools.lru_cache(maxsize=32)
def _letter_icon(letter: str, accent: str, ink: str, side: int, kind: str) -> bytes:
    """The shop's initial on its accent colour, in a rounded square (made once per look)."""
    scale = 4  # drawn large, then reduced: smooth edges without anti-aliasing support
    big = side * scale
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    if kind == "touch":  # Apple rounds the corners itself and shows transparency as black
        draw.rectangle((0, 0, big, big), fill=accent)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 5, fill=accent)
    if letter:
        font = ImageFont.load_default(size=int(big * 0.62))
        bold = max(1, big // 40)  # the built-in face is a regular weight: thickened
        draw.text(
            (big / 2, big / 2),
            letter,
            fill=ink,
            font=font,
            anchor="mm",
            stroke_width=bold,
            stroke_fill=ink,
        )
    icon = canvas.resize((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if kind == "ico":
        icon.save(out, "ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    else:
        (icon.convert("RGB") if kind == "touch" else icon).save(out, "PNG", optimize=True)
    return out.getvalue()
