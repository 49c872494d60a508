"""Finding English on a Russian page: the visible text of an HTML page (or an SVG chart)
and the Latin-script words in it that are not a code, a name or a unit.

Shared by the Russian-page test (:mod:`tests.integration.test_russian_pages`). The
allow-list is explicit and small on purpose: a word a Russian reader would have to
understand in English is a finding, whatever page it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
INLINE = {"span", "strong", "em", "i", "small", "abbr", "sub", "sup", "tspan"}
"""Inline tags join their text to the neighbours' (``lead<span>score</span>`` is one word)."""
SKIPPED = {"script", "style", "code", "head", "metadata"}
"""Not read by a user (scripts, styles) or a code by construction (``<code>`` field names)."""
VISIBLE_ATTRIBUTES = ("title", "alt", "aria-label", "placeholder")

CODES = {
    # abbreviations a Russian B2B sales team uses as they are
    "API",
    "BANT",
    "GPCT",
    "ICP",
    "MQL",
    "SQL",
    "SLA",
    "CRM",
    "SEO",
    "P",
    "UTC",
    # metrics and units
    "AUC",
    "ROC",
    "PR",
    "ECE",
    "PSI",
    "LTV",
    "CAC",
    "ROMI",
    "ms",
    "p90",
    # regions of the contract (codes, not words)
    "NA",
    "EMEA",
    "APAC",
    "LATAM",
}
NAMES = {"leadscore", "LightGBM", "MLflow", "Brier"}
"""Names of the product, libraries and a metric named after a person."""

PATTERNS = (
    re.compile(r"^v\d+$"),  # model versions
    re.compile(r"^lsk_"),  # the API keys' prefix (a placeholder on the sign-in page)
    re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$"),  # e-mail-like keys
)
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.@+-]*")


class VisibleText(HTMLParser):
    """The text a user sees (and hovers) on a page, with scripts, styles, codes, elements
    in another language and (temporarily) reason lines left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipped)

    @property
    def _skipping(self) -> bool:
        return any(skipped for _, skipped in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        lang = values.get("lang")
        skipped = tag in SKIPPED or bool(lang and not lang.startswith("ru"))
        if not self._skipping and not skipped:
            if tag not in INLINE:
                self.parts.append(" ")
            self.parts.extend(f" {values[a]} " for a in VISIBLE_ATTRIBUTES if values.get(a))
            if tag == "input" and values.get("type") in {"submit", "button"}:
                self.parts.append(f" {values.get('value', '')} ")
        if tag not in VOID:
            self._stack.append((tag, skipped))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break
        if tag not in INLINE:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)

    def text(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.parts)).strip()


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser.text()


def latin_words(text: str, allowed: Iterable[str] = ()) -> list[str]:
    """The Latin-script words of ``text`` that are neither codes, names, units nor in
    ``allowed`` (the test's own lead ids, key names and such)."""
    extra = set(allowed)
    found = []
    for match in WORD.finditer(text):
        word = match.group(0).rstrip(".-+")
        bare = word.rstrip(")")
        if bare in CODES or bare in NAMES or bare in extra:
            continue
        if any(p.match(bare) for p in PATTERNS):
            continue
        found.append(bare)
    return found


def context(text: str, word: str, width: int = 40) -> str:
    at = text.find(word)
    return text[max(0, at - width) : at + len(word) + width]
