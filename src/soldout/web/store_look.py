"""How a product looks in the storefront: its hero image, its share preview, its story
(the shop's own colours and icons are served by `api/routes_media.py`)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from markupsafe import Markup

from soldout.domain.products import Product
from soldout.services import media
from soldout.web.rich_text import markdown_html

__all__ = ["gallery", "hero", "og_image", "story", "summary"]

_MARKUP = re.compile(r"[*_`#>\[\]()!|~-]+")


def hero(product: Product) -> dict[str, Any] | None:
    """The product's first image as an `<img>` needs it (src, srcset), or None."""
    if not product.images:
        return None
    urls = media.image_urls(product.images[0])
    widths = sorted(int(w) for w in urls if w.isdigit())
    if not widths:
        return None
    return {
        "src": urls[str(widths[len(widths) // 2])],
        "srcset": ", ".join(f"{urls[str(w)]} {w}w" for w in widths),
        "alt": product.name,
    }


def gallery(product: Product) -> list[dict[str, Any]]:
    """Every image of the product, the hero first, as `hero` gives each."""
    return [h for h in (hero(_with_first(product, i)) for i in range(len(product.images))) if h]


def _with_first(product: Product, index: int) -> Product:
    images = (product.images[index], *product.images[:index], *product.images[index + 1 :])
    return replace(product, images=images)


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
