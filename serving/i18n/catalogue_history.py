"""Labels of the score history, the trend word and the lead's identity (issue 13 items
4 and 5), in English and Russian; :mod:`serving.i18n.languages` merges them into the
main catalogues. A block of its own so that the features' words stay together.
"""

EN_HISTORY: dict[str, str] = {
    "history.title": "Score history",
    "history.trend.improving": "improving",
    "history.trend.steady": "steady",
    "history.trend.declining": "declining",
    "history.change": "P(won) {change} pp over the last {days} days.",
    "history.pp": "{change} pp",
    "history.one": "One decision so far: no trend yet.",
    "history.chart_label": "P(won) over the last {n} decisions, with the threshold",
    "history.legend": "Line: P(won) at each decision, oldest on the left; dashed: the "
    "threshold of each decision.",
    "history.col.as_of": "Score as of",
    "history.col.logged": "Logged",
    "history.times": "Score as of: the moment the score is about (the request's as_of); "
    "logged: when the service scored it. A batch or a re-score logs several scores in the "
    "same minute about different moments.",
    "history.col.decision": "Decision",
    "history.col.model": "Model",
    "history.more": "The newest {shown} of {total} decisions; all of them: "
    "GET /v1/leads/<id>/scores.",
    "history.rule": "Trend: the latest P(won) minus P(won) as it stood {days} days ago "
    "(or at the first decision, if later); within ±{band} pp it is steady.",
    "queue.sort": "Order",
    "queue.sort.recent": "newest decision first",
    "queue.sort.change": "largest rise over 7 days first",
    "queue.col.change": "7-day change",
    "identity.crm": "CRM",
    "identity.lead_id": "lead {lead_id}",
}

RU_HISTORY: dict[str, str] = {
    "history.title": "История оценок",
    "history.trend.improving": "растёт",
    "history.trend.steady": "без изменений",
    "history.trend.declining": "снижается",
    "history.change": "P(сделка): {change} п. п. за последние {days} дн.",
    "history.pp": "{change} п. п.",
    "history.one": "Пока одно решение: тренда ещё нет.",
    "history.chart_label": "P(сделка) по последним {n} решениям и порог",
    "history.legend": "Линия — P(сделка) при каждом решении, раньше — левее; "
    "пунктир — порог каждого решения.",
    "history.col.as_of": "Оценка на момент",
    "history.col.logged": "Записана",
    "history.times": "Оценка на момент — время, о котором оценка (его передаёт запрос); "
    "записана — когда сервис её вычислил. Пакет или переоценка записывают несколько "
    "оценок в одну минуту о разных моментах.",
    "history.col.decision": "Решение",
    "history.col.model": "Модель",
    "history.more": "Последние {shown} из {total} решений; все — через GET /v1/leads/<id>/scores.",
    "history.rule": "Тренд: последняя P(сделка) минус P(сделка) {days} дн. назад "
    "(или при первом решении, если оно позже); в пределах ±{band} п. п. — без изменений.",
    "queue.sort": "Порядок",
    "queue.sort.recent": "сначала новые решения",
    "queue.sort.change": "сначала наибольший рост за 7 дней",
    "queue.col.change": "Изменение за 7 дней",
    "identity.crm": "CRM",
    "identity.lead_id": "лид {lead_id}",
}
