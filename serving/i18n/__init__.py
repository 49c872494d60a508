"""Russian and English for the pages: labels, vocabularies, numbers, dates and reasons.

Rooms of this package:

* ``catalogue_en`` / ``catalogue_ru`` — the labels by key (data only);
* ``languages`` — which languages there are, their catalogues (:data:`TEXT`), and
  :func:`negotiate`, picking one from ``Accept-Language``;
* ``formats`` — numbers, percentages, dates and durations as each language writes them;
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
