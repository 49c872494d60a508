"""Russian for the lead page's form errors: the feedback rules by code, pydantic's checks
by error type, and the fields by name.

The API answers these in English (its clients read the rule codes); a page shows them in
its reader's language. A rule or check with no entry here is shown as
``form.error.invalid`` ("invalid value"), never in English.
"""

FORM_ERRORS_RU: dict[str, str] = {
    # scoring.lifecycle / scoring.feedback Violation.rule
    "rule.rejection_reason": "для отказа нужна причина",
    "rule.reason_on_rejection_only": "причина указывается только при отказе",
    "rule.attempts_integer": "число попыток — целое неотрицательное число",
    "rule.attempts_bound": "слишком много попыток связаться",
    "rule.qualification_framework": "квалификация — по BANT или GPCT",
    "rule.qualification_criterion": "этот критерий не относится к выбранной методике",
    "rule.qualification_boolean": "критерий квалификации отмечается «да» или «нет»",
    "rule.qualification_on_acceptance": "квалификация указывается только при принятии",
    "rule.qualified_needs_qualification": "укажите, что подтвердил покупатель",
    "rule.amount_number": "сумма должна быть числом",
    "rule.won_needs_amount": "для выигранной сделки нужна сумма больше нуля",
    "rule.not_scored": "лид ещё не оценивался: сначала оцените его",
    "rule.before_created": "событие датировано раньше создания лида",
    "rule.before_scored": "событие датировано раньше первой оценки лида",
    "rule.out_of_order": "событие датировано раньше последнего записанного события продаж",
    "rule.closed": "сделка уже закрыта: после этого событий быть не может",
    "rule.qualified_before_accepted": "подтвердить квалификацию можно только у принятого лида",
    "rule.already_accepted": "лид уже принят продажами",
    "rule.decided_after_acceptance": "принятый лид завершается выигрышем или проигрышем, "
    "а не новым решением продаж",
    "rule.unknown_kind": "неизвестный вид события",
    # pydantic error types
    "type.int_parsing": "введите целое число",
    "type.int_type": "введите целое число",
    "type.int_from_float": "введите целое число",
    "type.greater_than_equal": "значение должно быть не меньше {ge}",
    "type.less_than_equal": "значение должно быть не больше {le}",
    "type.string_too_long": "не длиннее {max_length} символов",
    "type.string_pattern_mismatch": "текст содержит недопустимые управляющие символы",
    "type.enum": "выберите значение из списка",
    "type.literal_error": "выберите значение из списка",
    "type.missing": "обязательное поле",
    "form.error.invalid": "недопустимое значение",
    # the fields the forms send
    "formfield.reason": "причина отказа",
    "formfield.contact_attempts": "попытки связаться",
    "formfield.comment": "комментарий",
    "formfield.kind": "действие",
    "formfield.qualification": "квалификация",
    "formfield.at": "время",
    "formfield.lead_id": "лид",
    "formfield.body": "форма",
}
