"""Russian names of the contract's category values: channels, industries, sizes, seniority,
departments, revenue bands, regions, model aliases and promotion verdicts.

Keyed ``<field>.<value>`` like the other labels; looked up by
:meth:`serving.i18n.translator.Translator.value`, which shows a value it has no name for
(a new channel or industry from a real CRM export) as given: it is a name. English has
no such table: the pages show the contract's own values in English. Countries are named
by Babel's CLDR data, not here.
"""

VOCABULARY_RU: dict[str, str] = {
    # scoring.contract.Channel
    "channel.seo": "поисковая оптимизация (SEO)",
    "channel.paid_search": "платный поиск",
    "channel.paid_social": "реклама в соцсетях",
    "channel.content": "контент",
    "channel.webinar": "вебинар",
    "channel.referral": "рекомендация",
    "channel.event": "мероприятие",
    "channel.email": "рассылка",
    "channel.direct": "прямой заход",
    "channel.partner": "партнёр",
    "channel.other": "другой",
    # industries of the synthetic history (training/synthetic/effects.py)
    "industry.software": "программное обеспечение",
    "industry.fintech": "финтех",
    "industry.healthcare": "здравоохранение",
    "industry.manufacturing": "производство",
    "industry.retail": "розничная торговля",
    "industry.education": "образование",
    "industry.logistics": "логистика",
    "industry.media": "медиа",
    "industry.government": "госсектор",
    "industry.telecom": "телеком",
    "industry.crypto": "криптовалюты",
    # scoring.contract.COMPANY_SIZES: employees
    "company_size.1-10": "1–10 сотр.",
    "company_size.11-50": "11–50 сотр.",
    "company_size.51-200": "51–200 сотр.",
    "company_size.201-500": "201–500 сотр.",
    "company_size.501-1000": "501–1000 сотр.",
    "company_size.1001-5000": "1001–5000 сотр.",
    "company_size.5001+": "более 5000 сотр.",
    # scoring.contract.REVENUE_BANDS (USD a year)
    "revenue_band.<1M": "до 1 млн $",
    "revenue_band.1M-10M": "1–10 млн $",
    "revenue_band.10M-50M": "10–50 млн $",
    "revenue_band.50M-250M": "50–250 млн $",
    "revenue_band.250M-1B": "250 млн – 1 млрд $",
    "revenue_band.1B+": "более 1 млрд $",
    # scoring.contract.SENIORITIES
    "seniority.intern": "стажёр",
    "seniority.individual": "специалист",
    "seniority.manager": "менеджер",
    "seniority.director": "директор",
    "seniority.vp": "вице-президент",
    "seniority.c_level": "топ-менеджер",
    "seniority.owner": "владелец",
    # scoring.contract.DEPARTMENTS
    "department.marketing": "маркетинг",
    "department.sales": "продажи",
    "department.it": "ИТ",
    "department.engineering": "разработка",
    "department.finance": "финансы",
    "department.operations": "операции",
    "department.hr": "персонал",
    "department.executive": "руководство",
    "department.other": "другой",
    # regions of the synthetic history
    "region.NA": "Северная Америка",
    "region.EMEA": "Европа, Ближний Восток и Африка",
    "region.APAC": "Азиатско-Тихоокеанский регион",
    "region.LATAM": "Латинская Америка",
    # the registry's aliases and who promoted (training/registry.py)
    "alias.champion": "чемпион",
    "alias.challenger": "претендент",
    "actor.cli": "командная строка",
    "actor.crm": "CRM",
    "verdict.first": "первая модель: чемпиона ещё не было",
    "verdict.promote": "лучше чемпиона на свежих данных",
    "verdict.keep": "не лучше чемпиона: чемпион остался",
    "verdict.refused": "отклонена правилами обучения",
    "verdict.not_enough_evidence": "данных мало, чтобы судить: чемпион остался",
    "verdict.none": "—",
    # metrics the promotion gate may compare on (scoring/settings.py promotion_metric)
    "metric.roc_auc_won": "ROC AUC P(сделка)",
    "metric.roc_auc_sql": "ROC AUC P(SQL)",
    "metric.roc_auc_won_given_sql": "ROC AUC P(сделка | SQL)",
    "metric.pr_auc_won": "PR AUC P(сделка)",
    "metric.pr_auc_sql": "PR AUC P(SQL)",
    "metric.pr_auc_won_given_sql": "PR AUC P(сделка | SQL)",
}
