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

Reasons are not worded here: they are codes with parameters, worded from the gettext
catalog in ``scoring/locale`` by :mod:`scoring.reason_text` (:meth:`Translator.reason`).
"""

from serving.i18n.languages import DEFAULT_LANGUAGE, LANGUAGES, TEXT, negotiate
from serving.i18n.translator import Translator

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "TEXT",
    "Translator",
    "negotiate",
]
