"""The attribution section's words (``serving/reports/attribution.py``) in English and
Russian: the HTML report's (``rep.attribution*``, ``rep.model.*``), the marketing page's
(``mkt.attribution*``) and its notes (``note.attribution.*``).

A catalogue of its own so the section's words stay together; merged into
:data:`serving.i18n.languages.TEXT`. Russian names no model with a Latin letter: the
U-shaped model is "по краям" (40 % to each end), as its definition says.
"""

EN_ATTRIBUTION: dict[str, str] = {
    "rep.attribution": "Attribution: who gets the credit",
    "rep.attribution.short": "Attribution",
    "rep.attribution.summary": "{mql} MQL, {sql} SQL, {won} won deals and {revenue} of revenue "
    "credited to the touches before each conversion, by five models side by side.",
    "rep.attribution.share": "Share of revenue by model",
    "rep.attribution.won": "Won deals credited (revenue)",
    "rep.attribution.mql_sql": "MQL / SQL credited",
    "rep.model.first_touch": "first touch",
    "rep.model.last_touch": "last touch",
    "rep.model.linear": "linear",
    "rep.model.u_shaped": "U-shaped 40/20/40",
    "rep.model.time_decay": "time decay",
    "mkt.attribution": "Attribution: share of revenue by channel",
    "mkt.attribution.legend": "Each column gives the won revenue to the channels of the "
    "touches before each deal by one model; the bars show the linear model's share.",
    "mkt.attribution.none": "No won deals yet: no revenue to attribute.",
    "mkt.attribution.won": "Won deals (linear)",
    "note.attribution.origin": "A lead's own channel and campaign at its creation count as "
    "one of its touches; only the touches at or before a conversion share its credit.",
    "note.attribution.half_life": "Time decay: a touch's credit halves every {days} days "
    "before the conversion.",
    "note.attribution.no_channel": "Recorded touches without a channel are not attributed: {n}.",
}

RU_ATTRIBUTION: dict[str, str] = {
    "rep.attribution": "Атрибуция: кому засчитать результат",
    "rep.attribution.short": "Атрибуция",
    "rep.attribution.summary": "{mql} MQL, {sql} SQL, {won} выигранных сделок и выручка "
    "{revenue} распределены между касаниями до каждой конверсии — пять моделей рядом.",
    "rep.attribution.share": "Доля выручки по моделям",
    "rep.attribution.won": "Засчитано сделок (выручка)",
    "rep.attribution.mql_sql": "Засчитано MQL / SQL",
    "rep.model.first_touch": "первое касание",
    "rep.model.last_touch": "последнее касание",
    "rep.model.linear": "поровну",
    "rep.model.u_shaped": "по краям 40/20/40",
    "rep.model.time_decay": "с затуханием",
    "mkt.attribution": "Атрибуция: доля выручки по каналам",
    "mkt.attribution.legend": "Каждый столбец — одна модель: выручка сделки делится между "
    "каналами касаний до неё; полосы — доля при делении поровну.",
    "mkt.attribution.none": "Выигранных сделок пока нет: распределять нечего.",
    "mkt.attribution.won": "Сделки (поровну)",
    "note.attribution.origin": "Канал и кампания, из которых пришёл лид, считаются одним из "
    "его касаний; результат делят только касания до конверсии или в её момент.",
    "note.attribution.half_life": "Затухание: вклад касания уменьшается вдвое за каждые "
    "{days} дн. до конверсии.",
    "note.attribution.no_channel": "Не распределены касания без канала: {n}.",
}
