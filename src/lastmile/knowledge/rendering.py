"""Markdown to safe HTML: CommonMark with raw HTML off, then an allow-list sanitiser.

markdown-it-py never passes the author's HTML through (``html: False``) and refuses
``javascript:`` links; nh3 (ammonia) then keeps only known tags, attributes and URL
schemes, so an article cannot carry a script into the console or the portal whatever the
parser does.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul", "img",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def markdown_html(text: str) -> SafeString:
    """The article's HTML, safe to put in a page as it is."""
    raw = _parser().render(text or "")
    clean = nh3.clean(
        raw,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above


_SPACE = re.compile(r"\s+")


def markdown_text(text: str) -> str:
    """The article as plain words (for excerpts): tags dropped, entities decoded."""
    no_tags = nh3.clean(_parser().render(text or ""), tags=set())
    return _SPACE.sub(" ", html.unescape(no_tags)).strip()


def excerpt(text: str, terms: list[str] | None = None, *, width: int = 220) -> str:
    """About ``width`` characters of the plain text, around the first search term found."""
    plain = markdown_text(text)
    if len(plain) <= width:
        return plain
    start = 0
    lowered = plain.lower()
    for term in terms or []:
        # Stems match word starts: "declined" finds "decline…".
        at = lowered.find(term[: max(4, len(term) - 2)].lower())
        if at >= 0:
            start = max(0, at - width // 3)
            break
    if start:
        space = plain.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    piece = plain[start : start + width]
    cut = piece.rfind(" ")
    if start + width < len(plain) and cut > width // 2:
        piece = piece[:cut]
    return ("…" if start else "") + piece + ("…" if start + len(piece) < len(plain) else "")
