"""The report charts' labels, by key, in each language (data only).

Kept apart from the pages' catalogues (``catalogue_en`` / ``catalogue_ru``): the charts
are drawn by ``leadscore report`` as well as for the server, and their titles and axis
words are their own. Vocabulary values (decisions, rejection reasons, fields) come from
the pages' catalogues, so a value reads the same on a page and in a chart.
"""

CHARTS_EN: dict[str, str] = {
    "no_data": "no data",
    "all": "all",
    "stage.leads": "leads",
    "stage.mql": "MQL",
    "stage.sql": "SQL",
    "stage.won": "won",
    "funnel": "Funnel (all leads)",
    "by_channel": "Conversion by channel",
    "mql_to_sql": "MQL → SQL",
    "sql_to_won": "SQL → won",
    "mql_to_won_by": "MQL → won by {dimension}",
    "no_dimension": "no {dimension}",
    "rejections": "Rejection reasons by channel",
    "no_rejections": "no rejections",
    "share_of_rejections": "share of rejections",
    "response_axis": "hours from handoff to first sales response",
    "response": "Response time (green ≤ {decide} h, amber ≤ {contact} h)",
    "within": "≤ {hours} h",
    "sla_by_channel": "SLA compliance by channel",
    "calibration.sql": "P(SQL) vs accepted as SQL",
    "calibration.won": "P(won) vs won",
    "calibration.detail": "{title} (n = {n}, ECE {ece})",
    "no_outcomes": "no predictions with known outcomes",
    "predicted": "predicted",
    "observed": "observed",
    "no_features": "no features to compare",
    "drift": "Population stability vs {reference}",
    "psi": "population stability index (PSI)",
}

CHARTS_RU: dict[str, str] = {
    "no_data": "нет данных",
    "all": "все",
    "stage.leads": "лиды",
    "stage.mql": "MQL",
    "stage.sql": "SQL",
    "stage.won": "сделки",
    "funnel": "Воронка (все лиды)",
    "by_channel": "Конверсия по каналам",
    "mql_to_sql": "MQL → SQL",
    "sql_to_won": "SQL → сделка",
    "mql_to_won_by": "MQL → сделка, по признаку «{dimension}»",
    "no_dimension": "нет данных: {dimension}",
    "rejections": "Причины отказов по каналам",
    "no_rejections": "отказов нет",
    "share_of_rejections": "доля отказов",
    "response_axis": "часов от передачи до первого ответа продаж",
    "response": "Время ответа (зелёный ≤ {decide} ч, жёлтый ≤ {contact} ч)",
    "within": "≤ {hours} ч",
    "sla_by_channel": "Соблюдение SLA по каналам",
    "calibration.sql": "P(SQL) и доля лидов, ставших SQL",
    "calibration.won": "P(won) и доля сделок",
    "calibration.detail": "{title} (n = {n}, ECE {ece})",
    "no_outcomes": "нет прогнозов с известным исходом",
    "predicted": "прогноз",
    "observed": "факт",
    "no_features": "нет признаков для сравнения",
    "drift": "Стабильность распределений относительно: {reference}",
    "psi": "индекс стабильности (PSI)",
}

CHARTS: dict[str, dict[str, str]] = {"en": CHARTS_EN, "ru": CHARTS_RU}
