"""Looking labels up: the ``t`` the page templates call, with the language's formats.

Every label is looked up by key in :data:`serving.i18n.languages.TEXT`; a missing Russian
label falls back to English, so a page never shows a raw key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scoring.explain import REJECTION_TEXT
from scoring.reason_text import render_reason
from serving.i18n.catalogue_ru import LIKELY_REJECTION_RU
from serving.i18n.formats import Formats
from serving.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES, TEXT


class Translator(Formats):
    """Labels and number/date formats of one language, for the templates (``t``, ``fmt``)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, **values: object) -> str:
        text = TEXT[self.lang].get(key) or TEXT[DEFAULT_LANGUAGE].get(key) or key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in TEXT[DEFAULT_LANGUAGE]

    def label(self, prefix: str, value: object) -> str:
        """A vocabulary value in words (``decision``, ``kind``, ``reason``, ``touch``...)."""
        if value is None or value == "":
            return self("none")
        key = f"{prefix}.{value}"
        return self(key) if self.has(key) else str(value)

    # -- reasons ------------------------------------------------------------------------

    def reason(self, reason: Mapping[str, Any]) -> str:
        """A reason (code and params) worded in this language from the reason catalog."""
        return render_reason(reason, self.lang)

    def likely(self, reason: str | None) -> str:
        if not reason:
            return self("lead.likely.none")
        if self.lang == "ru":
            return LIKELY_REJECTION_RU.get(reason, reason)
        return REJECTION_TEXT.get(reason, reason)
