"""Looking labels up: the ``t`` the page templates call, with the language's formats.

Every label is looked up by key in :data:`serving.i18n.languages.TEXT`; a missing Russian
label falls back to English, so a page never shows a raw key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from babel import Locale

from scoring.explain import REJECTION_TEXT
from scoring.reason_text import render_reason
from serving.i18n.catalogue_ru import LIKELY_REJECTION_RU
from serving.i18n.formats import Formats
from serving.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES, TEXT


class Translator(Formats):
    """Labels and number/date formats of one language, for the templates (``t``, ``fmt``)."""

    def __init__(self, lang: str, tz: tzinfo = UTC) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self.tz = tz

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

    def value(self, field: str, value: object) -> str:
        """A lead's category value (``channel``, ``industry``, ``country``...) in words.

        Values of the contract and the synthetic vocabularies have names in this language
        (:mod:`serving.i18n.vocabulary_ru`; countries from CLDR); anything else — a new
        industry from a real CRM export — is a name and shown as given.
        """
        if value is None or value == "":
            return self("none")
        if isinstance(value, bool):
            return self("yes" if value else "no")
        text = str(value)
        if field == "country" and self.lang != DEFAULT_LANGUAGE:
            return Locale.parse(self.lang).territories.get(text.upper(), text)
        return TEXT[self.lang].get(f"{field}.{text}", text)

    def note(self, note: object) -> str:
        """A report's note or warning in this language: from its code and parameters
        (:class:`serving.reports.notes.Note`), or as given when it has no code here."""
        code = getattr(note, "code", None)
        key = f"note.{code}"
        if code is None or key not in TEXT[self.lang]:
            return str(note)
        params = getattr(note, "params", {})
        return self(key, **{name: self._param(name, v, params) for name, v in params.items()})

    def _param(self, name: str, value: object, params: dict[str, object]) -> str:
        """A note's parameter as this language writes it: shares as percentages, PSI and
        ratios as numbers, features, categories and statuses in words."""
        if name.endswith("_share"):
            return self.pct(value if isinstance(value, int | float) else None)
        if name in ("psi", "ratio", "limit"):
            return self.number(
                value if isinstance(value, int | float) else None, 3 if name == "psi" else 2
            )
        if name in ("romi", "target"):
            return self.number(value if isinstance(value, int | float) else None, 0)
        if isinstance(value, datetime):
            return self.day(value)
        if name == "n" and isinstance(value, int):
            return self.integer(value)
        if name == "status":
            return self(f"rep.status.{value}")
        feature = str(params.get("feature", ""))
        if name == "feature":
            return self.feature(feature)
        if name == "bin":
            return self.category(feature, value)
        if name == "new_values" and isinstance(value, dict):
            return ", ".join(f"{self.category(feature, k)} {self.pct(v)}" for k, v in value.items())
        return str(value)

    def reference(self, name: object) -> str:
        """The drift reference's name (a :class:`~serving.reports.notes.Note` or text)."""
        if str(name) in ("training", "training data"):
            return self("rep.reference.training")
        return self.note(name)

    def feature(self, name: str) -> str:
        """A model input's name in words (``n_demo_request``), as given when unknown."""
        return TEXT[self.lang].get(f"feature.{name}") or TEXT[self.lang].get(f"dim.{name}", name)

    def category(self, feature: str, value: object) -> str:
        """A drift bin: a category value in words, "other" and "missing" by name."""
        if value == "__other__":
            return self("rep.other_values")
        if value == "__missing__":
            return self("rep.missing")
        if value in ("true", "false"):
            return self("yes" if value == "true" else "no")
        return self.value(feature, value)

    # -- reasons ------------------------------------------------------------------------

    def reason(self, reason: Mapping[str, Any]) -> str:
        """A reason (code and params) worded in this language from the reason catalog."""
        return render_reason(reason, self.lang, self.value)

    def likely(self, reason: str | None) -> str:
        if not reason:
            return self("lead.likely.none")
        if self.lang == "ru":
            return LIKELY_REJECTION_RU.get(reason, reason)
        return REJECTION_TEXT.get(reason, reason)
