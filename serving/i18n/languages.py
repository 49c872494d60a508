"""Which languages the pages speak, their catalogues, and picking one for a request.

The language comes from ``?lang=ru|en`` (remembered in a cookie), else the cookie, else
the browser's ``Accept-Language`` (:func:`negotiate`); English is the fallback.
"""

from __future__ import annotations

from serving.i18n.catalogue_attribution import EN_ATTRIBUTION, RU_ATTRIBUTION
from serving.i18n.catalogue_en import EN
from serving.i18n.catalogue_history import EN_HISTORY, RU_HISTORY
from serving.i18n.catalogue_ru import RU
from serving.i18n.form_errors import FORM_ERRORS_RU
from serving.i18n.report_labels import REPORT_EN, REPORT_RU
from serving.i18n.vocabulary_ru import VOCABULARY_RU

LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT_LANGUAGE = "en"

TEXT: dict[str, dict[str, str]] = {
    "en": {**EN, **REPORT_EN, **EN_HISTORY, **EN_ATTRIBUTION},
    "ru": {**RU, **VOCABULARY_RU, **REPORT_RU, **FORM_ERRORS_RU, **RU_HISTORY, **RU_ATTRIBUTION},
}
"""Every label by language, then key; :data:`DEFAULT_LANGUAGE` holds every key."""


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` header (q-values honoured)."""
    best, best_q = DEFAULT_LANGUAGE, -1.0
    for position, item in enumerate((accept_language or "").split(",")):
        parts = item.strip().split(";")
        tag = parts[0].strip().lower()
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.split("-")[0]
        # earlier entries win ties, as browsers list them in preference order
        score = q - position * 1e-6
        if primary in LANGUAGES and q > 0 and score > best_q:
            best, best_q = primary, score
    return best
