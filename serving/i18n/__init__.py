"""Russian and English for the pages: labels, vocabularies, numbers, dates and reasons.

Rooms of this package:

* ``catalogue_en`` / ``catalogue_ru`` — the labels by key (data only);
* ``vocabulary_ru`` — Russian names of the contract's category values (channels,
  industries, sizes, seniority...); ``form_errors`` — the forms' errors in Russian by rule
  code and pydantic type; ``report_labels`` — the report's, its charts' and its notes' words;
* ``languages`` — which languages there are, their catalogues (:data:`TEXT`), and
  :func:`negotiate`, picking one from ``Accept-Language``;
* ``formats`` — numbers, percentages, dates (in the reader's time zone) and durations as
  each language writes them;
* ``translator`` — :class:`Translator`, the label lookup the templates call;
* ``reasons_ru`` — :func:`reason_text`, the model's English reason phrases in Russian.
"""

from serving.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES, TEXT, negotiate
from serving.i18n.reasons_ru import reason_text
from serving.i18n.translator import Translator

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "TEXT",
    "Translator",
    "negotiate",
    "reason_text",
]
