"""Russian and English for the pages: labels, vocabularies, numbers, dates and reasons.

The language comes from ``?lang=ru|en`` (remembered in a cookie), else the cookie, else
the browser's ``Accept-Language``; English is the fallback. Every label is looked up by
key in :data:`TEXT`; a missing Russian label falls back to English, so a page never
shows a raw key. Reasons arrive from the model as English phrases built by
:class:`scoring.explain.Phrasebook`; :func:`reason_text` turns the phrase patterns it
knows into Russian (and leaves anything else in English, which stays readable).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from scoring.explain import FIELD_LABELS, MONTHS, REJECTION_TEXT

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "TEXT",
    "Translator",
    "negotiate",
    "reason_text",
]

LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT_LANGUAGE = "en"

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "app": "leadscore",
        "lang.en": "English",
        "lang.ru": "Русский",
        "nav.queue": "Handoff queue",
        "nav.marketing": "Marketing overview",
        "nav.signed_in_as": "Signed in as {name} ({role})",
        "nav.logout": "Sign out",
        "role.scorer": "scorer",
        "role.sales": "sales",
        "role.marketing": "marketing",
        "role.admin": "admin",
        # sign-in
        "login.title": "Sign in",
        "login.intro": "Paste your leadscore API key. The key is never shown, logged or kept "
        "in the browser: you get a signed session that ends when you sign out, after "
        "{minutes} minutes without activity, or after {hours} hours.",
        "login.key": "API key",
        "login.submit": "Sign in",
        "login.error.empty": "api_key: paste your API key",
        "login.error.invalid": "api_key: this key is unknown or revoked",
        "login.error.locked": "Too many failed sign-ins: try again in {seconds} s.",
        "login.error.csrf": "The sign-in form expired. It has been reloaded: try again.",
        "logout.title": "Sign out",
        "logout.intro": "End your session in this browser?",
        "logout.done": "You are signed out.",
        # errors
        "error.forbidden.title": "Not allowed",
        "error.forbidden.text": "Your role ({role}) may not open this page. Allowed: {allowed}.",
        "error.not_found.title": "Not found",
        "error.no_lead": "No decision has been served for lead {lead_id}.",
        "error.csrf": "This form expired (or came from another site). Reload the page and "
        "submit again.",
        "error.bad_form": "This form is damaged. Reload the page and submit again.",
        "error.home": "Back to the start page",
        # queue
        "queue.title": "Handoff queue",
        "queue.intro": "Leads the model scored, newest first. Sales accepts or rejects a "
        "handed-over lead within {decide} h and makes first contact within {contact} h.",
        "queue.filter.decision": "Decision",
        "queue.filter.channel": "Channel",
        "queue.filter.band": "Score band",
        "queue.filter.sla": "SLA",
        "queue.filter.status": "Sales decision",
        "queue.filter.all": "all",
        "queue.filter.apply": "Filter",
        "queue.filter.reset": "Reset",
        "queue.status.open": "not decided yet",
        "queue.status.decided": "decided",
        "queue.status.all": "all",
        "queue.col.lead": "Lead",
        "queue.col.decision": "Decision",
        "queue.col.p_won": "P(won)",
        "queue.col.p_sql": "P(SQL)",
        "queue.col.fit_eng": "Fit / engagement",
        "queue.col.segment": "Channel · segment",
        "queue.col.likely": "Likely objection",
        "queue.col.scored": "Scored",
        "queue.col.sla": "SLA",
        "queue.empty": "No leads match these filters.",
        "queue.count": "{total} leads · page {page} of {pages}",
        "queue.prev": "← Newer",
        "queue.next": "Older →",
        "queue.recorded": "Recorded: lead {lead_id} — {kind}.",
        "queue.open_lead": "Open lead {lead_id}",
        "queue.decided_as": "decided: {kind}",
        "band.top": "P(won) ≥ 30%",
        "band.high": "15–30%",
        "band.mid": "5–15%",
        "band.low": "< 5%",
        "sla.overdue": "overdue",
        "sla.due_soon": "due in < 2 h",
        "sla.on_track": "on track",
        "sla.none": "no handoff",
        "sla.decide_left": "decide: {left} left",
        "sla.decide_overdue": "decide: overdue by {late}",
        "sla.contact_left": "first contact: {left} left",
        "sla.contact_overdue": "first contact: overdue by {late}",
        "sla.handed": "handed over {when}",
        "dur.hm": "{h} h {m} min",
        "dur.m": "{m} min",
        "dur.dh": "{d} d {h} h",
        # lead
        "lead.title": "Lead {lead_id}",
        "lead.back": "← Back to the queue",
        "lead.scores": "Scores per stage",
        "lead.p_sql": "P(accepted as SQL)",
        "lead.p_won": "P(won)",
        "lead.threshold": "Handoff threshold",
        "lead.decision": "Decision",
        "lead.above": "{pp} pp above the threshold ({ratio}× the threshold)",
        "lead.below": "{pp} pp below the threshold ({ratio}× the threshold)",
        "lead.disqualify_line": "Disqualified when P(SQL) is below {line}.",
        "lead.fit_vs_engagement": "Fit vs engagement",
        "lead.fit": "Fit (ICP)",
        "lead.engagement": "Engagement",
        "lead.percentile": "better than {p}% of past MQLs",
        "lead.na": "not available",
        "lead.quadrant.hot": "fits and engages",
        "lead.quadrant.fit_only": "fits, quiet",
        "lead.quadrant.engaged_only": "engaged, weak fit",
        "lead.quadrant.cold": "weak fit, quiet",
        "lead.reasons": "Why this score",
        "lead.reasons.help": "Bars to the right raised the score, to the left lowered it; the "
        "longer the bar, the stronger the effect.",
        "lead.reasons.none": "The model returned no reasons for this decision.",
        "lead.raises": "raises",
        "lead.lowers": "lowers",
        "lead.likely": "Likely objection if rejected",
        "lead.likely.none": "none predicted",
        "lead.likely.unreliable": "no reliable estimate",
        "lead.model": "Model",
        "lead.model_text": "{name} version {version}, scored {scored} (as of {as_of})",
        "lead.profile": "Lead profile (no personal data)",
        "lead.timeline": "Touch timeline",
        "lead.timeline.none": "No touches before the scoring moment.",
        "lead.timeline.days_before": "{days} d before scoring",
        "lead.history": "Sales feedback so far",
        "lead.history.none": "No sales feedback yet.",
        "lead.sla": "Handoff SLA",
        "lead.decide.title": "Record the sales decision",
        "lead.decide.help": "Accept as SQL, reject with a reason tag, or return the lead to "
        "marketing for nurturing.",
        "lead.decide.already": "Already decided: {kind}. A new decision is recorded in addition.",
        "lead.field.reason": "Rejection reason (required to reject)",
        "lead.field.reason.choose": "— choose a reason —",
        "lead.field.attempts": "Contact attempts (optional)",
        "lead.field.comment": "Comment (optional; stored, never logged)",
        "lead.accept": "Accept as SQL",
        "lead.reject": "Reject",
        "lead.nurture": "Return to nurture",
        "lead.disagree.title": "Disagree with the score?",
        "lead.disagree.help": "Tell marketing and the model's owners why the score looks "
        "wrong. It is stored as feedback of kind “disagree”.",
        "lead.disagree.comment": "Why the score is wrong",
        "lead.disagree.submit": "Send the note",
        "lead.noted": "Your note has been recorded.",
        "lead.errors": "The form has errors:",
        "form.error.comment_required": "comment: say why you disagree with the score",
        "form.error.kind": "kind: choose accept, reject or return to nurture",
        "form.error.reused": "This form was already used for another submission. It has been "
        "renewed: check the values and submit again.",
        # marketing
        "mkt.title": "Marketing overview",
        "mkt.intro": "{leads} scored leads from {first} to {last}. Computed from the decision "
        "log and sales feedback.",
        "mkt.no_data": "No scored leads yet.",
        "mkt.funnel": "Funnel by channel",
        "mkt.rejections": "Rejection reasons by channel and segment",
        "mkt.sla": "SLA compliance",
        "mkt.models": "Model versions",
        "mkt.col.channel": "Channel",
        "mkt.col.group": "Group",
        "mkt.col.leads": "Leads",
        "mkt.col.mql": "MQL",
        "mkt.col.sql": "SQL",
        "mkt.col.won": "Won",
        "mkt.col.mql_to_sql": "MQL→SQL",
        "mkt.col.sql_to_won": "SQL→won",
        "mkt.col.revenue": "Revenue",
        "mkt.col.rejections": "Rejections",
        "mkt.col.top_reason": "Top reason",
        "mkt.col.handed": "Handed over",
        "mkt.col.decided": "Decided",
        "mkt.col.undecided": "Waiting",
        "mkt.col.within_8h": "Decided ≤ 8 h",
        "mkt.col.within_24h": "Contact ≤ 24 h",
        "mkt.col.median_h": "Median response, h",
        "mkt.col.p90_h": "p90 response, h",
        "mkt.col.returned": "Returned to nurture",
        "mkt.col.under_3": "No-response rejections with < 3 attempts",
        "mkt.total": "All leads",
        "mkt.dim.channel": "channel",
        "mkt.dim.industry": "industry",
        "mkt.dim.company_size": "company size",
        "mkt.funnel.legend": "Bars: leads, MQL, SQL, won (to the same scale).",
        "mkt.rejections.none": "No rejections recorded yet.",
        "mkt.col.version": "Version",
        "mkt.col.aliases": "Alias",
        "mkt.col.created": "Registered",
        "mkt.col.metric": "{metric} (test)",
        "mkt.col.threshold": "Handoff threshold",
        "mkt.col.promotion": "Promotion",
        "mkt.promoted_by": "promoted by {by}",
        "mkt.kept": "not promoted",
        "mkt.registry_error": "The model registry could not be read ({error}).",
        "mkt.no_versions": "No registered versions.",
        "mkt.notes": "How these figures are computed",
        # shared vocabularies
        "decision.hand_to_sales": "hand to sales",
        "decision.nurture": "nurture",
        "decision.disqualify": "disqualify",
        "kind.accepted": "accepted as SQL",
        "kind.rejected": "rejected",
        "kind.returned_to_nurture": "returned to nurture",
        "kind.won": "deal won",
        "kind.lost": "deal lost",
        "kind.disagree": "disagrees with the score",
        "kind.contacted": "contacted",
        "lead.stage": "Lifecycle stage",
        "stage.not_scored": "not scored",
        "stage.nurture": "nurture",
        "stage.handed": "handed to sales",
        "stage.accepted": "accepted (SQL)",
        "stage.rejected": "rejected",
        "stage.won": "won",
        "stage.lost": "lost",
        "kind.qualified": "SQL confirmed",
        "lead.contacted": "Record first contact",
        "lead.qualification": "Qualification confirmed (on accept): tick what the buyer confirmed",
        "lead.history.implied": "implied by a later event",
        "qualification.budget": "budget",
        "qualification.authority": "authority",
        "qualification.need": "need",
        "qualification.timeline": "timeline",
        "qualification.goals": "goals",
        "qualification.plans": "plans",
        "qualification.challenges": "challenges",
        "breach.decision_late": "decision late",
        "breach.first_contact_late": "first contact late",
        "breach.sql_confirm_late": "SQL not confirmed in time",
        "breach.no_response_few_attempts": "no_response with too few attempts",
        "queue.breaches": "SLA breach",
        "mkt.col.sql_qualified": "SQLs with a confirmed qualification (BANT/GPCT)",
        "mkt.col.breaches": "SLA breaches: decision / first contact / SQL confirmation / attempts",
        "reason.no_budget": "no budget",
        "reason.not_icp": "not ICP",
        "reason.too_early": "too early",
        "reason.competitor_won": "competitor won",
        "reason.no_response": "no response",
        "reason.bad_contact_data": "bad contact data",
        "reason.duplicate": "duplicate",
        "reason.other": "other",
        "touch.page_view": "page view",
        "touch.pricing_page_view": "pricing page view",
        "touch.email_open": "email opened",
        "touch.email_click": "email clicked",
        "touch.content_download": "content download",
        "touch.webinar_registered": "webinar registration",
        "touch.webinar_attended": "webinar attended",
        "touch.demo_request": "demo request",
        "touch.form_submit": "form submitted",
        "touch.chat": "chat",
        "touch.call": "call",
        "field.channel": "channel",
        "field.campaign": "campaign",
        "field.industry": "industry",
        "field.company_size": "company size",
        "field.country": "country",
        "field.region": "region",
        "field.revenue_band": "revenue",
        "field.seniority": "seniority",
        "field.department": "department",
        "field.consent_email": "email consent",
        "field.consent_phone": "phone consent",
        "field.created_at": "created",
        "yes": "yes",
        "no": "no",
        "none": "—",
    },
    "ru": {
        "app": "leadscore",
        "nav.queue": "Очередь передачи",
        "nav.marketing": "Обзор для маркетинга",
        "nav.signed_in_as": "Вы вошли как {name} ({role})",
        "nav.logout": "Выйти",
        "role.scorer": "скоринг",
        "role.sales": "продажи",
        "role.marketing": "маркетинг",
        "role.admin": "администратор",
        "login.title": "Вход",
        "login.intro": "Вставьте ваш API-ключ leadscore. Ключ не показывается, не попадает в "
        "логи и не хранится в браузере: вы получаете подписанную сессию, которая "
        "завершается при выходе, после {minutes} мин. бездействия или через {hours} ч.",
        "login.key": "API-ключ",
        "login.submit": "Войти",
        "login.error.empty": "api_key: вставьте API-ключ",
        "login.error.invalid": "api_key: ключ неизвестен или отозван",
        "login.error.locked": "Слишком много неудачных попыток входа: повторите через {seconds} с.",
        "login.error.csrf": "Форма входа устарела и была обновлена: попробуйте ещё раз.",
        "logout.title": "Выход",
        "logout.intro": "Завершить сессию в этом браузере?",
        "logout.done": "Вы вышли.",
        "error.forbidden.title": "Нет доступа",
        "error.forbidden.text": "Ваша роль ({role}) не может открыть эту страницу. "
        "Разрешено: {allowed}.",
        "error.not_found.title": "Не найдено",
        "error.no_lead": "Для лида {lead_id} ещё не выдавалось решение.",
        "error.csrf": "Форма устарела (или отправлена с другого сайта). Обновите страницу и "
        "отправьте снова.",
        "error.bad_form": "Форма повреждена. Обновите страницу и отправьте снова.",
        "error.home": "На стартовую страницу",
        "queue.title": "Очередь передачи в продажи",
        "queue.intro": "Лиды, оценённые моделью, новые сверху. Продажи принимают или отклоняют "
        "переданный лид в течение {decide} ч и связываются с ним в течение {contact} ч.",
        "queue.filter.decision": "Решение",
        "queue.filter.channel": "Канал",
        "queue.filter.band": "Диапазон оценки",
        "queue.filter.sla": "SLA",
        "queue.filter.status": "Решение продаж",
        "queue.filter.all": "все",
        "queue.filter.apply": "Показать",
        "queue.filter.reset": "Сбросить",
        "queue.status.open": "ещё не принято",
        "queue.status.decided": "принято",
        "queue.status.all": "все",
        "queue.col.lead": "Лид",
        "queue.col.decision": "Решение",
        "queue.col.p_won": "P(сделка)",
        "queue.col.p_sql": "P(SQL)",
        "queue.col.fit_eng": "Соответствие / вовлечённость",
        "queue.col.segment": "Канал · сегмент",
        "queue.col.likely": "Вероятное возражение",
        "queue.col.scored": "Оценён",
        "queue.col.sla": "SLA",
        "queue.empty": "Нет лидов, подходящих под фильтры.",
        "queue.count": "Лидов: {total} · страница {page} из {pages}",
        "queue.prev": "← Новее",
        "queue.next": "Старше →",
        "queue.recorded": "Записано: лид {lead_id} — {kind}.",
        "queue.open_lead": "Открыть лид {lead_id}",
        "queue.decided_as": "решение: {kind}",
        "band.top": "P(сделка) ≥ 30%",
        "band.high": "15–30%",
        "band.mid": "5–15%",
        "band.low": "< 5%",
        "sla.overdue": "просрочено",
        "sla.due_soon": "осталось < 2 ч",
        "sla.on_track": "в срок",
        "sla.none": "не передан",
        "sla.decide_left": "решение: осталось {left}",
        "sla.decide_overdue": "решение: просрочено на {late}",
        "sla.contact_left": "первый контакт: осталось {left}",
        "sla.contact_overdue": "первый контакт: просрочен на {late}",
        "sla.handed": "передан {when}",
        "dur.hm": "{h} ч {m} мин",
        "dur.m": "{m} мин",
        "dur.dh": "{d} дн {h} ч",
        "lead.title": "Лид {lead_id}",
        "lead.back": "← К очереди",
        "lead.scores": "Оценки по этапам",
        "lead.p_sql": "P(принят как SQL)",
        "lead.p_won": "P(сделка)",
        "lead.threshold": "Порог передачи",
        "lead.decision": "Решение",
        "lead.above": "на {pp} п.п. выше порога ({ratio}× порога)",
        "lead.below": "на {pp} п.п. ниже порога ({ratio}× порога)",
        "lead.disqualify_line": "Дисквалификация, если P(SQL) ниже {line}.",
        "lead.fit_vs_engagement": "Соответствие и вовлечённость",
        "lead.fit": "Соответствие ICP",
        "lead.engagement": "Вовлечённость",
        "lead.percentile": "лучше, чем у {p}% прошлых MQL",
        "lead.na": "нет данных",
        "lead.quadrant.hot": "подходит и вовлечён",
        "lead.quadrant.fit_only": "подходит, но пассивен",
        "lead.quadrant.engaged_only": "вовлечён, но слабо подходит",
        "lead.quadrant.cold": "слабо подходит, пассивен",
        "lead.reasons": "Почему такая оценка",
        "lead.reasons.help": "Полосы вправо повышали оценку, влево — понижали; чем длиннее "
        "полоса, тем сильнее влияние.",
        "lead.reasons.none": "Модель не вернула причин для этого решения.",
        "lead.raises": "повышает",
        "lead.lowers": "понижает",
        "lead.likely": "Вероятная причина отказа",
        "lead.likely.none": "не прогнозируется",
        "lead.likely.unreliable": "нет надёжной оценки",
        "lead.model": "Модель",
        "lead.model_text": "{name}, версия {version}, оценка {scored} (на момент {as_of})",
        "lead.profile": "Профиль лида (без персональных данных)",
        "lead.timeline": "История касаний",
        "lead.timeline.none": "До момента оценки касаний не было.",
        "lead.timeline.days_before": "за {days} дн до оценки",
        "lead.history": "Обратная связь продаж",
        "lead.history.none": "Обратной связи пока нет.",
        "lead.sla": "SLA передачи",
        "lead.decide.title": "Решение отдела продаж",
        "lead.decide.help": "Примите как SQL, отклоните с указанием причины или верните лид в "
        "маркетинг на дозревание.",
        "lead.decide.already": "Решение уже принято: {kind}. Новое решение будет записано "
        "дополнительно.",
        "lead.field.reason": "Причина отказа (обязательна при отказе)",
        "lead.field.reason.choose": "— выберите причину —",
        "lead.field.attempts": "Попыток связаться (необязательно)",
        "lead.field.comment": "Комментарий (необязательно; хранится, не попадает в логи)",
        "lead.accept": "Принять как SQL",
        "lead.reject": "Отклонить",
        "lead.nurture": "Вернуть на дозревание",
        "lead.disagree.title": "Не согласны с оценкой?",
        "lead.disagree.help": "Объясните маркетингу и владельцам модели, почему оценка кажется "
        "неверной. Это сохраняется как обратная связь вида «disagree».",
        "lead.disagree.comment": "Почему оценка неверна",
        "lead.disagree.submit": "Отправить",
        "lead.noted": "Ваш комментарий записан.",
        "lead.errors": "В форме есть ошибки:",
        "form.error.comment_required": "comment: напишите, почему вы не согласны с оценкой",
        "form.error.kind": "kind: выберите «принять», «отклонить» или «вернуть на дозревание»",
        "form.error.reused": "Эта форма уже использовалась для другой отправки. Она обновлена: "
        "проверьте значения и отправьте снова.",
        "mkt.title": "Обзор для маркетинга",
        "mkt.intro": "Оценено лидов: {leads}, с {first} по {last}. Рассчитано по журналу "
        "решений и обратной связи продаж.",
        "mkt.no_data": "Оценённых лидов пока нет.",
        "mkt.funnel": "Воронка по каналам",
        "mkt.rejections": "Причины отказов по каналам и сегментам",
        "mkt.sla": "Соблюдение SLA",
        "mkt.models": "Версии модели",
        "mkt.col.channel": "Канал",
        "mkt.col.group": "Группа",
        "mkt.col.leads": "Лиды",
        "mkt.col.mql": "MQL",
        "mkt.col.sql": "SQL",
        "mkt.col.won": "Сделки",
        "mkt.col.mql_to_sql": "MQL→SQL",
        "mkt.col.sql_to_won": "SQL→сделка",
        "mkt.col.revenue": "Выручка",
        "mkt.col.rejections": "Отказы",
        "mkt.col.top_reason": "Главная причина",
        "mkt.col.handed": "Передано",
        "mkt.col.decided": "Решено",
        "mkt.col.undecided": "Ожидают",
        "mkt.col.within_8h": "Решение ≤ 8 ч",
        "mkt.col.within_24h": "Контакт ≤ 24 ч",
        "mkt.col.median_h": "Медиана реакции, ч",
        "mkt.col.p90_h": "p90 реакции, ч",
        "mkt.col.returned": "Возвращено на дозревание",
        "mkt.col.under_3": "Отказы «не отвечает» с < 3 попытками",
        "mkt.total": "Все лиды",
        "mkt.dim.channel": "канал",
        "mkt.dim.industry": "отрасль",
        "mkt.dim.company_size": "размер компании",
        "mkt.funnel.legend": "Полосы: лиды, MQL, SQL, сделки (в одном масштабе).",
        "mkt.rejections.none": "Отказов пока нет.",
        "mkt.col.version": "Версия",
        "mkt.col.aliases": "Метка",
        "mkt.col.created": "Зарегистрирована",
        "mkt.col.metric": "{metric} (тест)",
        "mkt.col.threshold": "Порог передачи",
        "mkt.col.promotion": "Продвижение",
        "mkt.promoted_by": "продвинул(а) {by}",
        "mkt.kept": "не продвинута",
        "mkt.registry_error": "Не удалось прочитать реестр моделей ({error}).",
        "mkt.no_versions": "Зарегистрированных версий нет.",
        "mkt.notes": "Как считаются показатели",
        "decision.hand_to_sales": "передать в продажи",
        "decision.nurture": "дорастить",
        "decision.disqualify": "дисквалифицировать",
        "kind.accepted": "принят как SQL",
        "kind.rejected": "отклонён",
        "kind.returned_to_nurture": "возвращён на дозревание",
        "kind.won": "сделка выиграна",
        "kind.lost": "сделка проиграна",
        "kind.disagree": "несогласие с оценкой",
        "kind.contacted": "контакт",
        "lead.stage": "Этап",
        "stage.not_scored": "без оценки",
        "stage.nurture": "дозревание",
        "stage.handed": "передан продажам",
        "stage.accepted": "принят (SQL)",
        "stage.rejected": "отклонён",
        "stage.won": "выигран",
        "stage.lost": "проигран",
        "kind.qualified": "SQL подтверждён",
        "lead.contacted": "Записать первый контакт",
        "lead.qualification": "Квалификация (при принятии): отметьте, что подтвердил покупатель",
        "lead.history.implied": "следует из более позднего события",
        "qualification.budget": "бюджет",
        "qualification.authority": "полномочия",
        "qualification.need": "потребность",
        "qualification.timeline": "сроки",
        "qualification.goals": "цели",
        "qualification.plans": "планы",
        "qualification.challenges": "проблемы",
        "breach.decision_late": "решение с опозданием",
        "breach.first_contact_late": "первый контакт с опозданием",
        "breach.sql_confirm_late": "SQL не подтверждён вовремя",
        "breach.no_response_few_attempts": "«не отвечает» при малом числе попыток",
        "queue.breaches": "нарушение SLA",
        "mkt.col.sql_qualified": "SQL с подтверждённой квалификацией (BANT/GPCT)",
        "mkt.col.breaches": "Нарушения SLA: решение / первый контакт / подтверждение SQL / попытки",
        "reason.no_budget": "нет бюджета",
        "reason.not_icp": "не ICP",
        "reason.too_early": "слишком рано",
        "reason.competitor_won": "выбрал конкурента",
        "reason.no_response": "не отвечает",
        "reason.bad_contact_data": "неверные контакты",
        "reason.duplicate": "дубликат",
        "reason.other": "другое",
        "touch.page_view": "просмотр страницы",
        "touch.pricing_page_view": "просмотр цен",
        "touch.email_open": "открыл письмо",
        "touch.email_click": "клик в письме",
        "touch.content_download": "скачал материал",
        "touch.webinar_registered": "регистрация на вебинар",
        "touch.webinar_attended": "посетил вебинар",
        "touch.demo_request": "запрос демо",
        "touch.form_submit": "отправил форму",
        "touch.chat": "чат",
        "touch.call": "звонок",
        "field.channel": "канал",
        "field.campaign": "кампания",
        "field.industry": "отрасль",
        "field.company_size": "размер компании",
        "field.country": "страна",
        "field.region": "регион",
        "field.revenue_band": "выручка",
        "field.seniority": "уровень должности",
        "field.department": "отдел",
        "field.consent_email": "согласие на email",
        "field.consent_phone": "согласие на звонки",
        "field.created_at": "создан",
        "yes": "да",
        "no": "нет",
        "none": "—",
    },
}

LIKELY_REJECTION_RU: dict[str, str] = {
    "no_budget": "сейчас нет бюджета",
    "not_icp": "не наш идеальный профиль клиента (ICP)",
    "too_early": "слишком рано: ещё не готов покупать",
    "competitor_won": "вероятно, выберет конкурента",
    "no_response": "вряд ли ответит на попытки связаться",
    "bad_contact_data": "контактные данные выглядят неверными",
    "duplicate": "дубликат существующего лида",
    "other": "другая причина",
}

MONTHS_RU_IN = (
    "январе",
    "феврале",
    "марте",
    "апреле",
    "мае",
    "июне",
    "июле",
    "августе",
    "сентябре",
    "октябре",
    "ноябре",
    "декабре",
)


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


def _plural_ru(n: int, one: str, few: str, many: str) -> str:
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


class Translator:
    """Labels and number/date formats of one language, for the templates (``t``, ``fmt``)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, **values: object) -> str:
        text = TEXT[self.lang].get(key) or TEXT[DEFAULT_LANGUAGE].get(key) or key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in TEXT[DEFAULT_LANGUAGE]

    def label(self, prefix: str, value: object) -> str:
        """A vocabulary value in words (``decision``, ``kind``, ``reason``, ``touch``...)."""
        if value is None or value == "":
            return self("none")
        key = f"{prefix}.{value}"
        return self(key) if self.has(key) else str(value)

    # -- numbers ------------------------------------------------------------------------

    def number(self, value: float | None, digits: int = 1) -> str:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return self("none")
        text = f"{value:,.{digits}f}"
        if self.lang == "ru":
            text = text.replace(",", "\u202f").replace(".", ",")
        return text

    def integer(self, value: float | None) -> str:
        return self.number(value, 0)

    def pct(self, value: float | None, digits: int = 1) -> str:
        """A probability or share (0..1) as a percentage."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return self("none")
        return self.number(100.0 * value, digits) + "%"

    def pp(self, value: float) -> str:
        """A difference of probabilities in percentage points, without a sign."""
        return self.number(abs(100.0 * value), 1)

    # -- time ---------------------------------------------------------------------------

    def when(self, value: datetime | str | None) -> str:
        if value is None:
            return self("none")
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return value
        if self.lang == "ru":
            return value.strftime("%d.%m.%Y %H:%M UTC")
        return value.strftime("%Y-%m-%d %H:%M UTC")

    def day(self, value: datetime | str | None) -> str:
        text = self.when(value)
        return text[:10] if text != self("none") else text

    def duration(self, delta: timedelta) -> str:
        minutes = max(int(abs(delta.total_seconds()) // 60), 0)
        hours, mins = divmod(minutes, 60)
        if hours >= 48:
            days, hours = divmod(hours, 24)
            return self("dur.dh", d=days, h=hours)
        if hours:
            return self("dur.hm", h=hours, m=mins)
        return self("dur.m", m=mins)

    # -- reasons ------------------------------------------------------------------------

    def reason(self, field: str, text: str) -> str:
        return reason_text(field, text, self.lang)

    def likely(self, reason: str | None) -> str:
        if not reason:
            return self("lead.likely.none")
        if self.lang == "ru":
            return LIKELY_REJECTION_RU.get(reason, reason)
        return REJECTION_TEXT.get(reason, reason)


# --- reasons in Russian --------------------------------------------------------------------


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


def _count(text: str) -> int:
    match = re.match(r"(\d+)", text)
    return int(match.group(1)) if match else 0


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


def _ru_patterns() -> list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]:
    def g(m: re.Match[str], i: int) -> str:
        return m.group(i)

    return [
        (
            re.compile(rf"requested a demo {_DAYS}"),
            lambda m: f"запросил демо {_days_ru(g(m, 1))}",
        ),
        (
            re.compile(rf"viewed the pricing page (\d+) times?, last {_DAYS}"),
            lambda m: (
                f"смотрел страницу цен {g(m, 1)} "
                f"{_plural_ru(int(g(m, 1)), 'раз', 'раза', 'раз')}, "
                f"последний раз {_days_ru(g(m, 2))}"
            ),
        ),
        (
            re.compile(r"attended (\d+) webinars?"),
            lambda m: f"посетил вебинаров: {g(m, 1)}",
        ),
        (
            re.compile(r"downloaded (\d+) content pieces?"),
            lambda m: f"скачал материалов: {g(m, 1)}",
        ),
        (
            re.compile(r"clicked (\d+) marketing emails?"),
            lambda m: f"переходил по ссылкам из писем: {g(m, 1)}",
        ),
        (
            re.compile(r"website, form, chat or call activity: (\d+) in the last year"),
            lambda m: f"посещений сайта, форм, чатов и звонков за год: {g(m, 1)}",
        ),
        (
            re.compile(r"active recently: (\d+) touch\w* in the last 14 days"),
            lambda m: f"активен в последнее время: касаний за 14 дней — {g(m, 1)}",
        ),
        (
            re.compile(r"little recent activity: (\d+) touch\w* in the last 14 days"),
            lambda m: f"мало активности в последнее время: касаний за 14 дней — {g(m, 1)}",
        ),
        (
            re.compile(rf"no activity in the last 14 days \(last touch {_DAYS}\)"),
            lambda m: f"нет активности за 14 дней (последнее касание {_days_ru(g(m, 1))})",
        ),
        (
            re.compile(rf"lead created {_DAYS}"),
            lambda m: f"лид создан {_days_ru(g(m, 1))}",
        ),
        (
            re.compile(r"leads in (\w+|this month) convert (better|worse)"),
            lambda m: (
                "лиды, пришедшие в "
                + (
                    MONTHS_RU_IN[MONTHS.index(g(m, 1))]
                    if g(m, 1) in MONTHS
                    else "этом месяце"
                    if g(m, 1) == "this month"
                    else g(m, 1)
                )
                + (", конвертируются лучше" if g(m, 2) == "better" else ", конвертируются хуже")
            ),
        ),
        (
            re.compile(r"company size (.+) is (in|outside) the ICP"),
            lambda m: (
                f"размер компании {g(m, 1)} — "
                + ("в профиле ICP" if g(m, 2) == "in" else "вне профиля ICP")
            ),
        ),
        (
            re.compile(r"(.+) is an ICP industry"),
            lambda m: f"отрасль {g(m, 1)} входит в ICP",
        ),
        (
            re.compile(r"(.+) rarely buys"),
            lambda m: f"отрасль {g(m, 1)} редко покупает",
        ),
        (
            re.compile(r"(.+) contact: (has|likely lacks) buying authority"),
            lambda m: (
                f"контакт уровня {g(m, 1)}: "
                + ("есть полномочия на покупку" if g(m, 2) == "has" else "вероятно, нет полномочий")
            ),
        ),
        (
            re.compile(r"revenue (.+): budget (likely|unlikely)"),
            lambda m: (
                f"выручка {g(m, 1)}: бюджет "
                + ("вероятен" if g(m, 2) == "likely" else "маловероятен")
            ),
        ),
        (
            re.compile(r"came through (.+), a channel whose leads (convert|rarely convert)"),
            lambda m: (
                f"пришёл через {g(m, 1)} — лиды этого канала "
                + ("конвертируются" if g(m, 2) == "convert" else "редко конвертируются")
            ),
        ),
    ]


_RU_PATTERNS = _ru_patterns()


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
    label_ru = TEXT["ru"].get(f"field.{field}", label)
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
