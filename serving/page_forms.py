"""The lead page's forms: the sales decision (accept / reject / first contact) and the
"disagree with the score" note.

Both are checked by the API's own request model (:class:`serving.feedback.FeedbackRequest`,
the feedback contract) and recorded by :func:`serving.feedback.record_feedback`, like
``POST /v1/feedback``, under an idempotency key made when the form was rendered, so a
double submit is stored once. Form contents are never logged.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from scoring.contract import SalesDecision
from scoring.lifecycle import QUALIFICATION_CRITERIA, LifecycleViolation
from serving.feedback import FeedbackRequest, RuleError, record_feedback
from serving.i18n import DEFAULT_LANGUAGE, TEXT, Translator
from serving.page_auth import PageUser, SalesUser, check_csrf
from serving.page_lead import lead_view, not_found, valid_lead_id
from serving.page_render import error_page, flush_decisions, language, page_now, redirect
from serving.schemas import error_items
from serving.storage import IdempotencyConflict
from serving.store.queue import feedback_by_key

log = logging.getLogger("leadscore.pages")

router = APIRouter(include_in_schema=False)

IDEMPOTENCY_PATTERN = re.compile(r"^[\w.:\-]{8,128}$")
FORM_KINDS: tuple[str, ...] = (*(k.value for k in SalesDecision), "contacted")
"""What the lead page's decision form records: a sales decision or the first contact."""


def _same_submission(
    stored: Mapping[str, Any], user: PageUser, lead_id: str, body: Mapping[str, Any]
) -> bool:
    """Is ``stored`` (found by the form's idempotency key) this very submission again?

    The time of the decision is taken at the first submit, so a resubmission differs in
    ``at``; the same person, lead, kind and reason make it the same decision.
    """
    return (
        stored["actor"] == user.name
        and stored["lead_id"] == lead_id
        and stored["kind"] == body.get("kind")
        and (stored["reason"] or None) == (body.get("reason") or None)
    )


def _submitted(
    request: Request, user: PageUser, lead_id: str, body: Mapping[str, Any], idem: str
) -> list[dict[str, str]] | None:
    """What to answer for a form whose key was used before: ``[]`` (this very
    submission again: already stored), an error (someone else's key), or ``None`` (new)."""
    previous = feedback_by_key(request.app.state.store, idem)
    if previous is None:
        return None
    if _same_submission(previous, user, lead_id, body):
        return []
    return [{"field": "form", "message": "reused"}]


def _store_feedback(
    request: Request,
    user: PageUser,
    lead_id: str,
    body: dict[str, Any],
    idem: str,
) -> tuple[bool, list[dict[str, Any]]]:
    """Validate and record one feedback event like ``POST /v1/feedback``.

    Returns ``(stored_or_replayed, errors)``. A resubmission of a form already stored
    (same idempotency key, same person and lead) counts as stored: a double click, a
    reload or the back button never records a decision twice.
    """
    answered = _submitted(request, user, lead_id, body, idem)
    if answered is not None:
        return not answered, answered
    try:
        checked = FeedbackRequest.model_validate(body)
        row, created = record_feedback(
            request.app.state, checked, idempotency_key=idem, actor=user.name, now=page_now(request)
        )
    except ValidationError as exc:
        return False, _coded_errors(exc.errors())
    except RequestValidationError as exc:  # a time after now (the API's rule)
        return False, _coded_errors(exc.errors())
    except IdempotencyConflict:
        # two submits raced past the check above: the winner's row decides
        answered = _submitted(request, user, lead_id, body, idem)
        return answered == [], answered or [{"field": "form", "message": "reused"}]
    except LifecycleViolation as exc:  # the lead's lifecycle refuses it: say which rule
        violation = exc.violation
        status = str(violation.status)
        return False, [
            {
                "field": violation.field,
                "message": violation.message,
                "status": status,
                "rule": violation.rule,
            }
        ]
    except ValueError as exc:
        return False, [{"field": "body", "message": str(exc)}]
    if created:
        log.info("page feedback stored: kind=%s", row["kind"])
    return True, []


def _coded_errors(raw: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """:func:`error_items` (the API's field and English message) plus what a page needs to
    say it in another language: the feedback rule's code, or pydantic's error type and
    its numeric limits (never the submitted value)."""
    items: list[dict[str, Any]] = []
    for item, error in zip(error_items(raw), raw, strict=True):
        ctx = error.get("ctx") or {}
        cause = ctx.get("error")
        coded: dict[str, Any] = dict(item)
        if isinstance(cause, RuleError):
            coded["rule"] = cause.violation.rule
        else:
            coded["type"] = str(error.get("type", ""))
            coded["limits"] = {k: v for k, v in ctx.items() if isinstance(v, int | float)}
        items.append(coded)
    return items


def _message(t: Translator, error: Mapping[str, Any]) -> str:
    """An error's message in the page's language: English as the API says it; otherwise
    from the rule's code or pydantic's type, else "invalid value" — never English."""
    if t.lang == DEFAULT_LANGUAGE:
        return str(error["message"])
    for key in (f"rule.{error.get('rule')}", f"type.{error.get('type')}"):
        if key in TEXT[t.lang]:
            return t(key, **error.get("limits", {}))
    return t("form.error.invalid")


def _translated_errors(t: Translator, errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for error in errors:
        if error["field"] == "form" and error["message"] == "reused":
            out.append({"field": "form", "message": t("form.error.reused")})
            continue
        out.append({"field": error["field"], "message": _message(t, error)})
    return out


def _qualification(bant: list[str], gpct: list[str]) -> dict[str, Any]:
    """The accept form's ticked criteria as a qualification (BANT, else GPCT).

    Ticked criteria are confirmed (true), the framework's others not (false); ticks in
    both frameworks are sent as they are, and the qualification check names the field.
    """
    framework, ticked = ("gpct", gpct) if gpct and not bant else ("bant", bant + gpct)
    criteria = QUALIFICATION_CRITERIA[framework]
    return {"framework": framework, **{c: c in ticked for c in criteria}} | {
        c: True for c in ticked if c not in criteria
    }


def _idem_or_new(idem: str) -> str:
    return idem if IDEMPOTENCY_PATTERN.match(idem) else f"ui-{uuid.uuid4().hex}"


def _decision_body(
    lead_id: str, kind: str, form: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The decision form as a feedback body (what ``POST /v1/feedback`` would receive)."""
    body: dict[str, Any] = {"lead_id": lead_id, "kind": kind, "at": now.replace(microsecond=0)}
    if form["reason"]:
        body["reason"] = form["reason"]
    attempts = form["contact_attempts"].strip()
    if attempts:
        # a form sends text; the API's number is strict (a JSON true is not 1)
        body["contact_attempts"] = int(attempts) if attempts.isdecimal() else attempts
    if form["comment"].strip():
        body["comment"] = form["comment"]
    if kind == "accepted" and (form["bant"] or form["gpct"]):
        body["qualification"] = _qualification(form["bant"], form["gpct"])
    return body


def _refused(
    request: Request, user: PageUser, lead_id: str, csrf: str, t: Translator
) -> Response | None:
    """The page a form gets instead of being recorded: a malformed or unknown lead (404),
    a form token that is not this session's (403); ``None``: go on."""
    if not valid_lead_id(lead_id):
        return not_found(request, user, lead_id)
    if not check_csrf(user, csrf):
        return error_page(request, 403, "error.forbidden.title", t("error.csrf"), user)
    flush_decisions(request)  # a lead scored a moment ago is found
    if request.app.state.store.last_decision(lead_id) is None:
        return not_found(request, user, lead_id)
    return None


@router.post("/ui/leads/{lead_id}/decision")
def record_decision(
    request: Request,
    lead_id: str,
    user: SalesUser,
    csrf: Annotated[str, Form(max_length=200)] = "",
    idem: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=64)] = "",
    contact_attempts: Annotated[str, Form(max_length=32)] = "",
    comment: Annotated[str, Form()] = "",  # its limit is FeedbackRequest's, named in the form
    bant: Annotated[list[str] | None, Form(max_length=4)] = None,
    gpct: Annotated[list[str] | None, Form(max_length=4)] = None,
) -> Response:
    t = Translator(language(request)[0])
    refused = _refused(request, user, lead_id, csrf, t)
    if refused is not None:
        return refused
    form = {
        "idem": _idem_or_new(idem),
        "reason": reason,
        "contact_attempts": contact_attempts,
        "comment": comment,
    }
    form["bant"] = list(bant or [])
    form["gpct"] = list(gpct or [])
    if kind not in FORM_KINDS:
        errors = [{"field": "kind", "message": t("form.error.kind").split(": ", 1)[1]}]
        return lead_view(request, user, lead_id, errors=errors, form=form, status_code=422)
    body = _decision_body(lead_id, kind, form, page_now(request))
    ok, errors = _store_feedback(request, user, lead_id, body, form["idem"])
    if not ok:
        reused = any(e["field"] == "form" for e in errors)
        if reused:
            form["idem"] = f"ui-{uuid.uuid4().hex}"
        conflict = reused or any(e.get("status") == "409" for e in errors)
        return lead_view(
            request,
            user,
            lead_id,
            errors=_translated_errors(t, errors),
            form=form,
            status_code=409 if conflict else 422,
        )
    return redirect("/ui/queue?" + urlencode({"recorded": lead_id, "kind": kind}))


@router.post("/ui/leads/{lead_id}/disagree")
def record_disagreement(
    request: Request,
    lead_id: str,
    user: SalesUser,
    csrf: Annotated[str, Form(max_length=200)] = "",
    idem: Annotated[str, Form(max_length=200)] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    t = Translator(language(request)[0])
    refused = _refused(request, user, lead_id, csrf, t)
    if refused is not None:
        return refused
    note_form = {"idem": _idem_or_new(idem), "comment": comment}
    if not comment.strip():
        field, message = t("form.error.comment_required").split(": ", 1)
        return lead_view(
            request,
            user,
            lead_id,
            note_errors=[{"field": field, "message": message}],
            note_form=note_form,
            status_code=422,
        )
    body = {
        "lead_id": lead_id,
        "kind": "disagree",
        "at": page_now(request).replace(microsecond=0),
        "comment": comment,
    }
    ok, errors = _store_feedback(request, user, lead_id, body, note_form["idem"])
    if not ok:
        if any(e["field"] == "form" for e in errors):
            note_form["idem"] = f"ui-{uuid.uuid4().hex}"
        return lead_view(
            request,
            user,
            lead_id,
            note_errors=_translated_errors(t, errors),
            note_form=note_form,
            status_code=422,
        )
    return redirect(f"/ui/leads/{lead_id}?noted=1")
