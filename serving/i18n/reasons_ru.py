"""Reasons in Russian: the model's English reason phrases, turned into Russian.

Reasons arrive from the model as English phrases built by
:class:`scoring.explain.Phrasebook`; :func:`reason_text` turns the phrase patterns it
knows into Russian (and leaves anything else in English, which stays readable).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scoring.explain import FIELD_LABELS, MONTHS
from serving.i18n.catalogue_ru import MONTHS_RU_IN, RU


def _plural_ru(n: int, one: str, few: str, many: str) -> str:
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _days_ru(text: str) -> str:
    if text == "today":
        return "сегодня"
    if text == "a while":
        return "давно"
    match = re.fullmatch(r"(\d+) days? ago", text)
    if match:
        n = int(match.group(1))
        return f"{n} {_plural_ru(n, 'день', 'дня', 'дней')} назад"
    return text


_DAYS = r"(today|a while|\d+ days? ago)"

_FIXED_RU: dict[str, str] = {
    "has not requested a demo": "не запрашивал демо",
    "has not looked at pricing": "не смотрел цены",
    "registered for a webinar but did not attend": "зарегистрировался на вебинар, но не пришёл",
    "has not attended a webinar": "не посещал вебинары",
    "downloaded no content": "не скачивал материалы",
    "opens marketing emails but never clicks": "открывает письма, но не переходит по ссылкам",
    "does not engage with marketing emails": "не реагирует на рассылки",
    "no website activity": "нет активности на сайте",
    "no recorded activity": "активность не зафиксирована",
    "lead age unknown": "возраст лида неизвестен",
    "agreed to be contacted": "согласен на контакт",
    "limited consent to be contacted": "ограниченное согласие на контакт",
}


Rendering = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]
"""A phrase pattern and how to write a match of it in Russian."""


def _g(m: re.Match[str], i: int) -> str:
    return m.group(i)


def _activity_patterns() -> list[Rendering]:
    """What the lead did (demo, pricing, webinars, content, emails, recency)."""
    return [
        (
            re.compile(rf"requested a demo {_DAYS}"),
            lambda m: f"запросил демо {_days_ru(_g(m, 1))}",
        ),
        (
            re.compile(rf"viewed the pricing page (\d+) times?, last {_DAYS}"),
            lambda m: (
                f"смотрел страницу цен {_g(m, 1)} "
                f"{_plural_ru(int(_g(m, 1)), 'раз', 'раза', 'раз')}, "
                f"последний раз {_days_ru(_g(m, 2))}"
            ),
        ),
        (
            re.compile(r"attended (\d+) webinars?"),
            lambda m: f"посетил вебинаров: {_g(m, 1)}",
        ),
        (
            re.compile(r"downloaded (\d+) content pieces?"),
            lambda m: f"скачал материалов: {_g(m, 1)}",
        ),
        (
            re.compile(r"clicked (\d+) marketing emails?"),
            lambda m: f"переходил по ссылкам из писем: {_g(m, 1)}",
        ),
        (
            re.compile(r"website, form, chat or call activity: (\d+) in the last year"),
            lambda m: f"посещений сайта, форм, чатов и звонков за год: {_g(m, 1)}",
        ),
        (
            re.compile(r"active recently: (\d+) touch\w* in the last 14 days"),
            lambda m: f"активен в последнее время: касаний за 14 дней — {_g(m, 1)}",
        ),
        (
            re.compile(r"little recent activity: (\d+) touch\w* in the last 14 days"),
            lambda m: f"мало активности в последнее время: касаний за 14 дней — {_g(m, 1)}",
        ),
        (
            re.compile(rf"no activity in the last 14 days \(last touch {_DAYS}\)"),
            lambda m: f"нет активности за 14 дней (последнее касание {_days_ru(_g(m, 1))})",
        ),
        (
            re.compile(rf"lead created {_DAYS}"),
            lambda m: f"лид создан {_days_ru(_g(m, 1))}",
        ),
    ]


def _profile_patterns() -> list[Rendering]:
    """Who the lead is (month, company size, industry, seniority, revenue, channel)."""
    return [
        (
            re.compile(r"leads in (\w+|this month) convert (better|worse)"),
            lambda m: (
                "лиды, пришедшие в "
                + (
                    MONTHS_RU_IN[MONTHS.index(_g(m, 1))]
                    if _g(m, 1) in MONTHS
                    else "этом месяце"
                    if _g(m, 1) == "this month"
                    else _g(m, 1)
                )
                + (", конвертируются лучше" if _g(m, 2) == "better" else ", конвертируются хуже")
            ),
        ),
        (
            re.compile(r"company size (.+) is (in|outside) the ICP"),
            lambda m: (
                f"размер компании {_g(m, 1)} — "
                + ("в профиле ICP" if _g(m, 2) == "in" else "вне профиля ICP")
            ),
        ),
        (
            re.compile(r"(.+) is an ICP industry"),
            lambda m: f"отрасль {_g(m, 1)} входит в ICP",
        ),
        (
            re.compile(r"(.+) rarely buys"),
            lambda m: f"отрасль {_g(m, 1)} редко покупает",
        ),
        (
            re.compile(r"(.+) contact: (has|likely lacks) buying authority"),
            lambda m: (
                f"контакт уровня {_g(m, 1)}: "
                + (
                    "есть полномочия на покупку"
                    if _g(m, 2) == "has"
                    else "вероятно, нет полномочий"
                )
            ),
        ),
        (
            re.compile(r"revenue (.+): budget (likely|unlikely)"),
            lambda m: (
                f"выручка {_g(m, 1)}: бюджет "
                + ("вероятен" if _g(m, 2) == "likely" else "маловероятен")
            ),
        ),
        (
            re.compile(r"came through (.+), a channel whose leads (convert|rarely convert)"),
            lambda m: (
                f"пришёл через {_g(m, 1)} — лиды этого канала "
                + ("конвертируются" if _g(m, 2) == "convert" else "редко конвертируются")
            ),
        ),
    ]


_RU_PATTERNS: list[Rendering] = [*_activity_patterns(), *_profile_patterns()]


def reason_text(field: str, text: str, lang: str) -> str:
    """One reason phrase in ``lang``: English as the model wrote it, or its Russian form."""
    if lang != "ru" or not text:
        return text
    if text in _FIXED_RU:
        return _FIXED_RU[text]
    for pattern, render in _RU_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return render(match)
    label = FIELD_LABELS.get(field, field.replace("_", " "))
    label_ru = RU.get(f"field.{field}", label)
    if text.startswith(label + " "):
        rest = text[len(label) + 1 :]
        for english, russian in (
            (" (raises the score)", " (повышает оценку)"),
            (" (lowers it)", " (понижает оценку)"),
            (" converts well", ": хорошо конвертируется"),
            (" rarely converts", ": редко конвертируется"),
        ):
            if rest.endswith(english):
                value = rest.removesuffix(english).removeprefix("is ")
                return (
                    f"{label_ru} {value}{russian}"
                    if english[1] != "("
                    else (f"{label_ru}: {value}{russian}")
                )
        if rest.startswith("not given"):
            tail = rest.removeprefix("not given")
            tail = tail.replace("(less is known about this lead)", "(о лиде известно меньше)")
            return f"{label_ru}: не указано{tail}"
    return text
