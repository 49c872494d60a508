"""Wording reasons from the message catalog: a code and its parameters, in a language.

The catalog is gettext: ``scoring/locale/<lang>/LC_MESSAGES/reasons.po``, one message per
reason code (:mod:`scoring.reason_codes`), read with Babel when first needed and compiled
in memory. Plural forms are the catalog's (CLDR's for Russian: 1 день, 2 дня, 5 дней),
numbers are formatted by Babel for the locale and month names come from CLDR. It lives in
``scoring/`` so the API, the pages and the MLflow pyfunc all word a reason the same way.

Parameters are filled in by kind: a count (``views``, ``webinars``, ...) through its own
plural message ``unit.<name>``; ``days_ago`` through ``unit.days_ago`` ("today" at 0);
``month`` as the month's stand-alone name; ``by_email``/``by_phone`` (consent; not
``email``/``phone``, which the store strips as personal data) as
``consent.yes|no|unknown``; anything else as text. The field a generic code speaks of
(``category.unseen`` ...) is named by ``field.<name>``, or its column name spaced out.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from babel.dates import get_month_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "reasons"
REASON_LANGUAGES: tuple[str, ...] = ("en", "ru")
"""Languages the reason catalog has; any other falls back to English."""

COUNT_PARAMS: frozenset[str] = frozenset(
    {"views", "webinars", "downloads", "clicks", "opens", "activities", "touches"}
)
"""Parameters worded through their plural message ``unit.<name>``."""


@functools.cache
def catalog(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English behind every other language)."""
    if lang not in REASON_LANGUAGES:
        lang = REASON_LANGUAGES[0]
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        messages = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    translations: gettext.NullTranslations = gettext.GNUTranslations(compiled)
    if lang != REASON_LANGUAGES[0]:
        translations.add_fallback(catalog(REASON_LANGUAGES[0]))
    return translations


def message_ids(lang: str) -> set[str]:
    """Every message id in ``lang``'s catalog file (for the completeness test and docs)."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        messages = read_po(po, locale=lang, domain=DOMAIN)
    return {m.id if isinstance(m.id, str) else m.id[0] for m in messages if m.id}


@functools.lru_cache(maxsize=4096)
def _number(value: float, lang: str) -> str:
    """Babel's number format (cached: it costs tens of µs, and reasons repeat small numbers)."""
    return format_decimal(value, locale=lang)


@functools.lru_cache(maxsize=4096)
def _plural(msgid: str, value: float, lang: str) -> str:
    template = catalog(lang).ngettext(msgid, msgid, int(value))
    return template.format(n=_number(value, lang))


def _param(name: str, value: Any, lang: str) -> str:
    if name in ("by_email", "by_phone"):  # consent: agreed, refused or not given
        state = "unknown" if value is None else "yes" if value else "no"
        return catalog(lang).gettext(f"consent.{state}")
    if value is None:
        return catalog(lang).gettext("value.unknown")
    if name == "days_ago":
        return (
            catalog(lang).gettext("unit.days_ago.today")
            if value <= 0
            else _plural("unit.days_ago", value, lang)
        )
    if name in COUNT_PARAMS:
        return _plural(f"unit.{name}", value, lang)
    if name == "month" and 1 <= int(value) <= 12:
        return str(get_month_names("wide", context="stand-alone", locale=lang)[int(value)])
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return _number(value, lang)
    return str(value)


def field_label(field_name: str, lang: str) -> str:
    """The field a reason speaks of, in words (``company_size`` → "company size")."""
    key = f"field.{field_name}"
    label = catalog(lang).gettext(key)
    return field_name.replace("_", " ") if label == key else label


def render(code: str, params: Mapping[str, Any], lang: str, field_name: str = "") -> str:
    """The reason ``code`` with ``params`` in ``lang``; an unknown code reads as itself.

    Worded once per distinct (code, parameters, language, field) and then looked up:
    reasons repeat the same few codes with small numbers and known categories, and
    wording one from the catalog costs ~15 µs (``leadscore rescore`` words 60,000 of them,
    the API up to six per lead). The key holds each parameter's type, and a float's
    ``repr``, so values that compare equal but read differently (``1``, ``1.0`` and
    ``True``; ``0.0`` and ``-0.0``) never share a text; a parameter that is not a plain
    scalar, or a long text, is worded without the cache.
    """
    try:
        if len(code) + len(field_name) > _LONGEST_KEPT:
            raise _Uncached
        key = (code, lang, field_name, *map(_param_key, params.items()))
    except (TypeError, _Uncached):
        return _render(code, params, lang, field_name)
    return _render_cached(key, params)


class _Uncached(Exception):
    """A reason not worth a cache entry: a long text (as an unseen category may be), or a
    value that is not a plain scalar (a tuple's ``1`` and ``1.0`` would share a key)."""


_LONGEST_KEPT = 200
"""Longest text (a code and field, or a parameter) whose wording is kept: the values come
from requests, and the cache must stay small whatever they send."""

_RENDERED: dict[tuple[Any, ...], str] = {}
_RENDERED_MAX = 20_000
"""Texts kept (each key and text under ~1 KiB); past this many the cache is emptied and
refilled."""


_SCALARS = frozenset({str, int, bool, type(None)})


def _param_key(item: tuple[str, Any]) -> tuple[str, type, Any]:
    name, value = item
    kind = type(value)
    if kind is float:
        return name, kind, repr(value)  # -0.0 is not 0.0, and a NaN equals itself here
    if kind not in _SCALARS or (kind is str and len(value) > _LONGEST_KEPT):
        raise _Uncached
    return name, kind, value


def _render_cached(key: tuple[Any, ...], params: Mapping[str, Any]) -> str:
    """:func:`_render` of ``key``'s reason, from :data:`_RENDERED` when worded before."""
    text = _RENDERED.get(key)
    if text is None:
        code, lang, field_name = key[:3]
        text = _render(code, params, lang, field_name)
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        _RENDERED[key] = text
    return text


def _render(code: str, params: Mapping[str, Any], lang: str, field_name: str = "") -> str:
    """:func:`render` without the cache: the catalog's wording, every time."""
    template = catalog(lang).gettext(code)
    if template == code:
        return code
    values = {name: _param(name, value, lang) for name, value in params.items()}
    values["field"] = field_label(field_name, lang)
    return template.format_map(_Blank(values, catalog(lang).gettext("value.unknown")))


class _Blank(dict[str, str]):
    """Fills a placeholder the reason has no value for with "unknown", never a KeyError."""

    def __init__(self, values: Mapping[str, str], blank: str) -> None:
        super().__init__(values)
        self.blank = blank

    def __missing__(self, key: str) -> str:
        return self.blank


ValueNames = Callable[[str, Any], str]
"""``(field, value) -> the value's name in the reader's language`` (``"c_level"`` →
«топ-менеджмент»): the vocabularies' names live with the pages (``serving.i18n``)."""


def render_reason(
    reason: Mapping[str, Any], lang: str, value_names: ValueNames | None = None
) -> str:
    """A stored or answered reason in ``lang``: from its code if it has one, else its text
    (decisions logged before reasons had codes).

    ``value_names`` names a known category value in ``lang``; a value the model never
    saw (``category.unseen.*``) is quoted as sent, since it is the CRM's own name.
    """
    code = reason.get("code")
    params = reason.get("params")
    if isinstance(code, str) and isinstance(params, Mapping):
        field_name = str(reason.get("field", ""))
        value = params.get("value")
        if value_names is not None and isinstance(value, str) and ".unseen." not in code:
            params = {**params, "value": value_names(field_name, value)}
        return render(code, params, lang, field_name)
    return str(reason.get("text", ""))


def in_language(
    reasons: Mapping[str, Any] | None, lang: str, value_names: ValueNames | None = None
) -> Mapping[str, Any] | None:
    """An answer's ``{"positive": [...], "negative": [...]}`` with texts in ``lang``."""
    if reasons is None or lang == REASON_LANGUAGES[0]:
        return reasons
    return {
        side: [{**r, "text": render_reason(r, lang, value_names)} for r in items]
        for side, items in reasons.items()
    }


__all__ = [
    "REASON_LANGUAGES",
    "catalog",
    "field_label",
    "in_language",
    "message_ids",
    "render",
    "render_reason",
]
