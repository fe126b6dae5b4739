"""A maker's Markdown (a product's story) as HTML that is safe to put in a page.

Two locks, not one: markdown-it renders with raw HTML turned off (a `<script>` typed in a
description is shown as text), and its output then goes through nh3 (the ammonia
sanitiser) with a short allowlist, so a bug or a future option in the renderer still
cannot put a script, an event handler, a style or a `javascript:` link in a fan's page.

    >>> print(markdown_html("**Made** in [Utrecht](https://u.nl)"), end="")
    <p><strong>Made</strong> in <a href="https://u.nl" rel="nofollow noopener">Utrecht</a></p>
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup

__all__ = ["MAX_MARKDOWN", "markdown_html"]

MAX_MARKDOWN = 20_000  # characters of a product description

_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "s", "a",
    "code", "pre", "blockquote", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={"script", "style"},
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",  # a link leaves the shop only to a full http(s) or mailto address
    link_rel="nofollow noopener",
    strip_comments=True,
)


def _headings_below_the_title(state: StateCore) -> None:
    """The page's own `<h1>` is the product's name: "# Story" becomes an `<h2>` like
    "## Story", and levels below h4 stay h4 (the allowlist has h2-h4)."""
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(max(int(token.tag[1]), 2), 4)}"


def _image_as_its_words(
    self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    """Product photos are uploaded and checked, never hot-linked: `![alt](url)` shows
    its alt text."""
    return escapeHtml(tokens[idx].content)


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MARKDOWN.enable(["table", "strikethrough"])
_MARKDOWN.core.ruler.push("headings_below_the_title", _headings_below_the_title)
_MARKDOWN.add_render_rule("image", _image_as_its_words)


@functools.lru_cache(maxsize=256)
def markdown_html(text: str) -> Markup:
    """`text` (Markdown, at most `MAX_MARKDOWN` characters are read) as sanitised HTML.

    Remembered for the last 256 texts: a launch page shows the same description to every
    fan, and the worst 20,000 characters (all '[') take about half a second to parse."""
    html = _CLEANER.clean(_MARKDOWN.render(text[:MAX_MARKDOWN]))
    return Markup(html)  # noqa: S704 (sanitised just above: that is this module's purpose)
