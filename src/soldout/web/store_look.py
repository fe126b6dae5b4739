"""How a product looks in the storefront: its hero image, its share preview, its story
(the shop's own colours and icons are served by `api/routes_media.py`)."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

from soldout.domain.products import Product
from soldout.services import media
from soldout.web.rich_text import markdown_html

__all__ = ["gallery", "hero", "og_image", "story", "summary"]

_MARKUP = re.compile(r"[*_`#>\[\]()!|~-]+")


def hero(product: Product) -> dict[str, Any] | None:
    """The product's first image as an `<img>` needs it (src, srcset), or None."""
    return _picture(product.images[0], product.name) if product.images else None


def gallery(product: Product) -> list[dict[str, Any]]:
    """Every image of the product, the hero first, as `hero` gives it."""
    return [_picture(media_id, product.name) for media_id in product.images]


def _picture(media_id: str, alt: str) -> dict[str, Any]:
    urls = media.image_urls(media_id)  # by width, narrowest first
    widths = sorted(urls, key=int)
    return {
        "src": urls[widths[len(widths) // 2]],
        "srcset": ", ".join(f"{urls[w]} {w}w" for w in widths),
        "thumb": urls[widths[0]],
        "alt": alt,
    }


def og_image(product: Product, base: str) -> str | None:
    """The absolute URL of the product's share preview (1200x630), or None."""
    if not product.images:
        return None
    return media.og_image_url(product.images[0], base)


def story(description: str) -> Markup:
    return markdown_html(description)


def summary(description: str, limit: int = 200) -> str:
    """The description as one plain line for share previews and search results."""
    text = " ".join(_MARKUP.sub(" ", description).split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
