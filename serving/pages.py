"""Pages for people: sales reviews why a lead passed, marketing sees the funnel.

Server-rendered Jinja2 pages on the API's own app, behind the same API keys and roles:

``/ui/login``, ``/ui/logout``
    The user pastes an API key once; it is checked with :meth:`Store.role_for_key` and
    the browser gets a *signed session cookie* (HttpOnly, SameSite=Strict, Secure on
    HTTPS or with the ``secure_cookies`` setting, path ``/ui``) that the server can end:
    see :mod:`serving.sessions`. Signing out ends the session at once, so does revoking
    the key; it also ends after inactivity and after a maximum age. Failed sign-ins count
    towards the lock-out of :mod:`serving.ratelimit` (429 with ``Retry-After``).
``/ui/queue`` (sales; admin always)
    The handoff queue: each lead's latest decision, newest first, filterable by
    decision, channel, P(won) band and SLA state (8 h to accept/reject, 24 h to first
    contact, counted from the handoff); a lead leaves it once sales decided on it, and
    comes back if the model hands it over again after that decision.
``/ui/leads/{lead_id}`` (sales)
    Scores per stage, the decision against the threshold, fit vs engagement, the
    reasons as a chart, the likely objection, the model version and the touch timeline;
    the decision form (accept / reject with a reason tag / return to nurture) and a
    "disagree with the score" note. Both go through :class:`serving.schemas.FeedbackRequest`
    and :meth:`Store.add_feedback` like ``POST /v1/feedback``, with an idempotency key
    made when the form was rendered, so a double submit is stored once.
``/ui/marketing`` (marketing)
    Funnel by channel, rejection reasons by channel and segment, SLA compliance
    (:func:`serving.reports.build_report` on the store) and the model version history
    from the MLflow registry.

Forms are protected against CSRF by the SameSite=Strict session cookie plus a token bound
to the session (the sign-in form: a double-submit cookie). Pages put only the lead id in
URLs, never log form contents and send ``Cache-Control: no-store`` and a strict
Content-Security-Policy (no scripts at all; the charts are inline SVG).

Wire it in with :func:`install` (``serving.app.create_app`` does).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlalchemy import and_, func, not_, or_, select, type_coerce

from scoring.contract import (
    LEAD_COLUMNS,
    NOT_FEATURES,
    HandoffDecision,
    RejectionReason,
    SalesDecision,
)
from scoring.lifecycle import (
    QUALIFICATION_CRITERIA,
    LifecycleViolation,
    SlaClocks,
    replay,
    sla_breaches,
)
from serving.auth import Principal, Role
from serving.i18n import LANGUAGES, Translator, negotiate
from serving.ratelimit import failure_subjects, retry_after_header
from serving.schemas import FeedbackRequest, error_items, times_after
from serving.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    csrf_token,
    end_session,
    read_session,
    secure_cookies,
    session_secret,
    start_session,
)
from serving.storage import IdempotencyConflict, Store, hash_api_key
from serving.tables import Decision, Feedback, UTCDateTime

__all__ = [
    "SESSION_COOKIE",
    "PageUser",
    "install",
    "page_user",
    "queue_page",
    "router",
]

log = logging.getLogger("leadscore.pages")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

LOGIN_COOKIE = "leadscore_login"
LANG_COOKIE = "leadscore_lang"
"""A session lasts a working day, then the key must be pasted again."""

SLA_DECIDE = timedelta(hours=8)
"""Sales accepts or rejects a handed-over lead within 8 hours (DOMAIN.md)."""
SLA_CONTACT = timedelta(hours=24)
"""First contact within 24 hours (DOMAIN.md)."""
DUE_SOON = timedelta(hours=2)
"""Less than this left to decide: the row is flagged "due soon"."""

PAGE_SIZE = 25
MAX_PAGE = 10_000
IDEMPOTENCY_PATTERN = re.compile(r"^[\w.:\-]{8,128}$")
LEAD_ID_PATTERN = re.compile(r"^[\w.:\-]{1,64}$")
SALES_KINDS: tuple[str, ...] = tuple(k.value for k in SalesDecision)
FORM_KINDS: tuple[str, ...] = (*SALES_KINDS, "contacted")
"""What the lead page's decision form records: a sales decision or the first contact."""
HAND = HandoffDecision.HAND_TO_SALES.value

SCORE_BANDS: dict[str, tuple[float | None, float | None]] = {
    "top": (0.30, None),
    "high": (0.15, 0.30),
    "mid": (0.05, 0.15),
    "low": (None, 0.05),
}
"""P(won) bands of the queue filter: ``[low, high)``."""
SLA_STATES: tuple[str, ...] = ("overdue", "due_soon", "on_track")
STATUSES: tuple[str, ...] = ("open", "decided", "all")
PROFILE_FIELDS: tuple[str, ...] = tuple(c for c in LEAD_COLUMNS if c not in NOT_FEATURES)
"""Lead fields shown on the lead page: the decision log keeps no personal data anyway."""

PAGE_ROLES: dict[str, frozenset[Role]] = {
    "queue": frozenset({Role.SALES, Role.ADMIN}),
    "marketing": frozenset({Role.MARKETING, Role.ADMIN}),
}

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

router = APIRouter(include_in_schema=False)


def _now() -> datetime:
    """The clock of the SLA timers (tests replace it)."""
    return datetime.now(UTC)


# --- templates -----------------------------------------------------------------------------

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _clamp(value: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return min(max(value, lo), hi)


_env.globals["clamp"] = _clamp


# --- the session -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PageUser:
    """The signed-in person: their key's name and role, and the form token of the session."""

    name: str
    role: Role
    csrf: str

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role)

    def may(self, page: str) -> bool:
        return self.role in PAGE_ROLES[page]


class NotSignedIn(Exception):
    """No valid session: the handler redirects to the sign-in page."""


class PageForbidden(Exception):
    """Signed in, but the role may not see the page: the handler renders a 403 page."""

    def __init__(self, user: PageUser, allowed: frozenset[Role]) -> None:
        super().__init__(f"role {user.role.value} may not see this page")
        self.user = user
        self.allowed = allowed


def current_user(request: Request) -> PageUser | None:
    """The principal behind the session cookie, or ``None`` (no cookie, ended, revoked)."""
    secret = session_secret(request)
    store: Store = request.app.state.store
    session = read_session(
        store, request.app.state.settings, secret, request.cookies.get(SESSION_COOKIE)
    )
    if session is None:
        return None
    found = store.role_for_key_hash(session.key_hash)
    principal = None if found is None else Principal(name=found[0], role=found[1])
    if principal is None:
        return None
    request.state.principal = principal  # for access logs, as serving.auth does
    return PageUser(principal.name, principal.role, csrf_token(secret, session.sid))


def page_user(*roles: Role) -> Callable[[Request], PageUser]:
    """A page dependency admitting sessions whose key has one of ``roles`` (admin always).

    Not signed in: a redirect to the sign-in page (:class:`NotSignedIn`); signed in with
    another role: a 403 page (:class:`PageForbidden`). Synchronous on purpose: FastAPI
    runs it in the thread pool, off the event loop, as it reads the database.
    """
    allowed = frozenset(roles) | {Role.ADMIN}

    def dependency(request: Request) -> PageUser:
        user = current_user(request)
        if user is None:
            raise NotSignedIn()
        if user.role not in allowed:
            raise PageForbidden(user, allowed)
        return user

    dependency.__name__ = f"page_user_{'_'.join(sorted(r.value for r in allowed))}"
    return dependency


SalesUser = Annotated[PageUser, Depends(page_user(Role.SALES))]
MarketingUser = Annotated[PageUser, Depends(page_user(Role.MARKETING))]


def _check_csrf(user: PageUser, token: str) -> bool:
    return bool(token) and secrets.compare_digest(user.csrf, token)


def _safe_next(target: str | None) -> str | None:
    """Only local page paths: no open redirect through ``?next=``."""
    if not target or not target.startswith("/ui") or len(target) > 2000:
        return None
    if target.startswith("//") or "\\" in target or "//" in target.split("?")[0]:
        return None
    return target


def _home(user: PageUser) -> str:
    if user.may("queue"):
        return "/ui/queue"
    if user.may("marketing"):
        return "/ui/marketing"
    return "/ui/forbidden"


# --- rendering ---------------------------------------------------------------------------------


def _language(request: Request) -> tuple[str, bool]:
    """``(language, chosen_now)``: ``?lang=``, else the cookie, else ``Accept-Language``."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, True
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in LANGUAGES:
        return remembered, False
    return negotiate(request.headers.get("accept-language")), False


def _lang_links(request: Request, here: str | None) -> list[tuple[str, str]]:
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    if request.method != "GET":
        params = {}  # a re-rendered form: switch on the page it came from
    path = here or request.url.path
    return [(code, f"{path}?{urlencode({**params, 'lang': code})}") for code in LANGUAGES]


def _harden(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def render(
    request: Request,
    template: str,
    *,
    user: PageUser | None = None,
    status_code: int = 200,
    here: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a page in the request's language, with the shared layout's context."""
    lang, chosen = _language(request)
    t = Translator(lang)
    html = _env.get_template(template).render(
        t=t,
        lang=lang,
        user=user,
        csrf=user.csrf if user else "",
        lang_links=_lang_links(request, here),
        static=lambda name: f"/ui/static/{name}",
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    if chosen:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            path=COOKIE_PATH,
            samesite="lax",
            secure=secure_cookies(request),
            httponly=True,
        )
    return _harden(response)  # type: ignore[return-value]


def _redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    _harden(response)
    return response


def _error_page(
    request: Request,
    status_code: int,
    title_key: str,
    text: str,
    user: PageUser | None = None,
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        user=user,
        status_code=status_code,
        title_key=title_key,
        text=text,
        home="/ui" if user else "/ui/login",
    )


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":  # back to the page of the form, not to its POST address
        target = (
            request.url.path.rsplit("/", 1)[0]
            if request.url.path.startswith("/ui/leads/")
            else "/ui"
        )
    return _redirect("/ui/login?" + urlencode({"next": target}))


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    t = Translator(_language(request)[0])
    allowed = ", ".join(t(f"role.{r.value}") for r in sorted(exc.allowed, key=lambda r: r.value))
    text = t("error.forbidden.text", role=t(f"role.{exc.user.role.value}"), allowed=allowed)
    return _error_page(request, 403, "error.forbidden.title", text, exc.user)


# --- queries -------------------------------------------------------------------------------------

_QUEUE_COLUMNS: tuple[str, ...] = (
    "id",
    "lead_id",
    "scored_at",
    "as_of",
    "model_name",
    "model_version",
    "p_sql",
    "p_won",
    "fit_score",
    "engagement_score",
    "decision",
    "threshold",
    "likely_rejection_reason",
    "channel",
    "industry",
    "company_size",
    "country",
)


@dataclass(frozen=True)
class QueueFilters:
    decision: str | None = HAND
    channel: str | None = None
    band: str | None = None
    sla: str | None = None
    status: str = "open"


def _lead_states(now: datetime, filters: QueueFilters | None, lead_id: str | None = None) -> Any:
    """Each lead's latest decision with its sales state, as one SELECT (SQLite and PostgreSQL).

    ``decided_at`` is when the last sales decision (accepted / rejected / returned to
    nurture) arrived; ``handoff_at`` the first ``hand_to_sales`` decision *after* it (or
    ever, without one): the start of the open handoff, the SLA clock. A lead is decided
    when sales decided and the model has not handed it over again since.
    """
    d = Decision.__table__
    f = Feedback.__table__
    one = [] if lead_id is None else [d.c.lead_id == lead_id]
    ranked = (
        select(
            *(d.c[c] for c in _QUEUE_COLUMNS),
            func.row_number()
            .over(partition_by=d.c.lead_id, order_by=(d.c.scored_at.desc(), d.c.id.desc()))
            .label("rn"),
        )
        .where(*one)
        .subquery("ranked")
    )
    sales_ranked = (
        select(
            f.c.lead_id,
            f.c.kind,
            f.c.reason,
            f.c.at,
            f.c.received_at,
            func.row_number()
            .over(partition_by=f.c.lead_id, order_by=(f.c.received_at.desc(), f.c.id.desc()))
            .label("rn"),
        )
        .where(f.c.kind.in_(SALES_KINDS), *([] if lead_id is None else [f.c.lead_id == lead_id]))
        .subquery("sales_ranked")
    )
    sales = (
        select(
            sales_ranked.c.lead_id,
            sales_ranked.c.kind.label("sales_kind"),
            sales_ranked.c.reason.label("sales_reason"),
            sales_ranked.c.at.label("sales_at"),
            sales_ranked.c.received_at.label("decided_at"),
        )
        .where(sales_ranked.c.rn == 1)
        .cte("sales")
    )
    h = d.alias("h")
    handoff = (
        select(
            h.c.lead_id,
            type_coerce(func.min(h.c.scored_at), UTCDateTime()).label("handoff_at"),
        )
        .select_from(h.outerjoin(sales, sales.c.lead_id == h.c.lead_id))
        .where(
            h.c.decision == HAND,
            or_(sales.c.decided_at.is_(None), h.c.scored_at > sales.c.decided_at),
            *([] if lead_id is None else [h.c.lead_id == lead_id]),
        )
        .group_by(h.c.lead_id)
        .subquery("handoff")
    )
    query = (
        select(
            *(ranked.c[c] for c in _QUEUE_COLUMNS),
            sales.c.sales_kind,
            sales.c.sales_reason,
            sales.c.sales_at,
            sales.c.decided_at,
            handoff.c.handoff_at,
        )
        .select_from(
            ranked.outerjoin(sales, sales.c.lead_id == ranked.c.lead_id).outerjoin(
                handoff, handoff.c.lead_id == ranked.c.lead_id
            )
        )
        .where(ranked.c.rn == 1)
    )
    if filters is None:
        return query
    decided = and_(sales.c.decided_at.is_not(None), handoff.c.handoff_at.is_(None))
    if filters.status == "open":
        query = query.where(not_(decided))
    elif filters.status == "decided":
        query = query.where(decided)
    if filters.decision:
        query = query.where(ranked.c.decision == filters.decision)
    if filters.channel:
        query = query.where(ranked.c.channel == filters.channel)
    if filters.band:
        lo, hi = SCORE_BANDS[filters.band]
        if lo is not None:
            query = query.where(ranked.c.p_won >= lo)
        if hi is not None:
            query = query.where(ranked.c.p_won < hi)
    if filters.sla:
        started = handoff.c.handoff_at
        late, soon = now - SLA_DECIDE, now - SLA_DECIDE + DUE_SOON
        query = query.where(started.is_not(None))
        if filters.sla == "overdue":
            query = query.where(started <= late)
        elif filters.sla == "due_soon":
            query = query.where(started > late, started <= soon)
        else:
            query = query.where(started > soon)
    return query


def _sla(handoff_at: datetime | None, decided: bool, now: datetime) -> dict[str, Any] | None:
    """The SLA timers of an open handoff (``None`` when there is none or sales decided)."""
    if handoff_at is None or decided:
        return None
    decide_left = handoff_at + SLA_DECIDE - now
    contact_left = handoff_at + SLA_CONTACT - now
    if decide_left <= timedelta(0):
        state = "overdue"
    elif decide_left <= DUE_SOON:
        state = "due_soon"
    else:
        state = "on_track"
    return {
        "state": state,
        "handoff_at": handoff_at,
        "decide_left": decide_left,
        "decide_overdue": decide_left <= timedelta(0),
        "contact_left": contact_left,
        "contact_overdue": contact_left <= timedelta(0),
    }


def _row(record: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    row = dict(record)
    row["decided"] = row["decided_at"] is not None and row["handoff_at"] is None
    row["sla"] = _sla(row["handoff_at"], row["decided"], now)
    for name in ("fit_score", "engagement_score"):
        if row[name] is not None and row[name] < 0:  # -1 means "not available"
            row[name] = None
    return row


def queue_page(
    store: Store,
    filters: QueueFilters,
    *,
    page: int = 1,
    now: datetime | None = None,
    clocks: SlaClocks | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the handoff queue and the number of leads matching the filters."""
    now = now or _now()
    query = _lead_states(now, filters)
    ranked_cols = query.selected_columns
    ordered = query.order_by(ranked_cols.scored_at.desc(), ranked_cols.id.desc())
    with store.engine.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
        records = (
            conn.execute(ordered.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).mappings().all()
        )
    rows = [_row(r, now) for r in records]
    _flag_breaches(store, rows, now, clocks or SlaClocks())
    return rows, total


def _flag_breaches(
    store: Store, rows: list[dict[str, Any]], now: datetime, clocks: SlaClocks
) -> None:
    """Each row's SLA breaches as of ``now`` (``row["breaches"]``: rule names) and its
    lifecycle stage (``row["stage"]``): each clock on its own event, late or missing."""
    histories = store.lifecycle_events([row["lead_id"] for row in rows])
    for row in rows:
        events = histories.get(row["lead_id"], [])
        found = sla_breaches(events, now, clocks)
        row["breaches"] = list(dict.fromkeys(b.rule for b in found))
        row["stage"] = replay(events).state.stage.value


def lead_state(store: Store, lead_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    now = now or _now()
    with store.engine.connect() as conn:
        record = conn.execute(_lead_states(now, None, lead_id)).mappings().first()
    return None if record is None else _row(record, now)


def _channels(store: Store) -> list[str]:
    d = Decision.__table__
    query = (
        select(d.c.channel).distinct().where(d.c.channel.is_not(None)).order_by(d.c.channel)
    ).limit(200)
    with store.engine.connect() as conn:
        return [str(v) for v in conn.execute(query).scalars()]


def _feedback_history(store: Store, lead_id: str) -> list[dict[str, Any]]:
    """The lead's feedback, newest first, without comments (free text may hold PII)."""
    f = Feedback.__table__
    query = (
        select(
            f.c.kind,
            f.c.reason,
            f.c.at,
            f.c.received_at,
            f.c.actor,
            f.c.contact_attempts,
            f.c.implied,
            f.c.qualification,
        )
        .where(f.c.lead_id == lead_id)
        .order_by(f.c.received_at.desc(), f.c.id.desc())
        .limit(50)
    )
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _feedback_by_key(store: Store, key: str) -> dict[str, Any] | None:
    f = Feedback.__table__
    query = select(f.c.lead_id, f.c.kind, f.c.reason, f.c.actor).where(f.c.idempotency_key == key)
    with store.engine.connect() as conn:
        found = conn.execute(query).mappings().first()
    return None if found is None else dict(found)


def _flush(request: Request) -> None:
    decision_log = getattr(request.app.state, "decision_log", None)
    if decision_log is not None:
        decision_log.flush()


# --- sign-in -------------------------------------------------------------------------------------


def _login_page(
    request: Request, *, error: str | None = None, next_url: str | None = None, status: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    settings = request.app.state.settings
    response = render(
        request,
        "login.html",
        status_code=status,
        here="/ui/login",
        error=error,
        login_csrf=token,
        next_url=_safe_next(next_url) or "",
        minutes=f"{settings.ui_session_idle_minutes:g}",
        hours=f"{settings.ui_session_max_hours:g}",
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.get("/ui")
@router.get("/ui/")
def home(request: Request) -> Response:
    user = current_user(request)
    return _redirect("/ui/login" if user is None else _home(user))


@router.get("/ui/login")
def login_form(request: Request, next: str | None = None) -> Response:
    user = current_user(request)
    if user is not None:
        return _redirect(_safe_next(next) or _home(user))
    return _login_page(request, next_url=next)


@router.post("/ui/login")
def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=4096)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    t = Translator(_language(request)[0])
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not csrf or not secrets.compare_digest(expected, csrf):
        return _login_page(request, error=t("login.error.csrf"), next_url=next, status=403)
    raw = api_key.strip()
    if not raw:
        return _login_page(request, error=t("login.error.empty"), next_url=next, status=422)
    store: Store = request.app.state.store
    limiter = request.app.state.auth_limiter
    subjects = failure_subjects(request, raw)
    wait = limiter.locked(subjects)
    if wait is not None:
        log.warning("page sign-in refused: too many failed attempts")  # never the key
        response = _login_page(
            request, error=t("login.error.locked", seconds=wait), next_url=next, status=429
        )
        response.headers.update(retry_after_header(wait))
        return response
    found = store.role_for_key(raw)
    if found is None:
        limiter.fail(subjects)
        log.info("page sign-in refused: unknown or revoked key")  # never the key itself
        return _login_page(request, error=t("login.error.invalid"), next_url=next, status=401)
    user = PageUser(found[0], Role(found[1]), "")
    log.info("page sign-in with a %s key", user.role.value)  # key names may be people's
    settings = request.app.state.settings
    response = _redirect(_safe_next(next) or _home(user))
    response.set_cookie(
        SESSION_COOKIE,
        start_session(store, settings, session_secret(request), hash_api_key(raw)),
        max_age=int(settings.ui_session_max_age.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@router.get("/ui/logout")
def logout_form(request: Request) -> Response:
    user = current_user(request)
    if user is None:
        return _redirect("/ui/login")
    return render(request, "logout.html", user=user)


@router.post("/ui/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    user = current_user(request)
    if user is not None and not _check_csrf(user, csrf):
        t = Translator(_language(request)[0])
        return _error_page(request, 403, "error.forbidden.title", t("error.csrf"), user)
    if user is not None:  # the row goes: the old cookie opens nothing from now on
        end_session(
            request.app.state.store,
            request.app.state.settings,
            session_secret(request),
            request.cookies.get(SESSION_COOKIE),
        )
    response = _redirect("/ui/login")
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@router.get("/ui/forbidden")
def forbidden_home(request: Request) -> Response:
    """Where a role with no page (``scorer``) lands after signing in."""
    user = current_user(request)
    if user is None:
        return _redirect("/ui/login")
    raise PageForbidden(user, PAGE_ROLES["queue"] | PAGE_ROLES["marketing"])


# --- the handoff queue ----------------------------------------------------------------------


def _choice(value: str | None, allowed: Any) -> str | None:
    return value if value and value in allowed else None


@router.get("/ui/queue")
def queue(
    request: Request,
    user: SalesUser,
    decision: Annotated[str | None, Query(max_length=32)] = None,
    channel: Annotated[str | None, Query(max_length=128)] = None,
    band: Annotated[str | None, Query(max_length=16)] = None,
    sla: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    page: Annotated[str | None, Query(max_length=8)] = None,
    recorded: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    _flush(request)
    store: Store = request.app.state.store
    # The default view is the open handoffs; "all" (an explicit empty choice) widens it.
    chosen_decision = HAND if decision is None else decision
    filters = QueueFilters(
        decision=_choice(chosen_decision, {d.value for d in HandoffDecision}),
        channel=channel or None,
        band=_choice(band, SCORE_BANDS),
        sla=_choice(sla, SLA_STATES),
        status=_choice(status, STATUSES) or "open",
    )
    number = int(page) if page and page.isdigit() else 1
    number = min(max(number, 1), MAX_PAGE)
    now = _now()
    clocks = SlaClocks.from_settings(request.app.state.settings)
    rows, total = queue_page(store, filters, page=number, now=now, clocks=clocks)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    params = {
        "decision": filters.decision or "",
        "channel": filters.channel or "",
        "band": filters.band or "",
        "sla": filters.sla or "",
        "status": filters.status,
    }

    def page_url(n: int) -> str:
        return "/ui/queue?" + urlencode({**params, "page": n})

    notice = None
    if recorded and LEAD_ID_PATTERN.match(recorded) and kind in FORM_KINDS:
        notice = {"lead_id": recorded, "kind": kind}
    return render(
        request,
        "queue.html",
        user=user,
        active="queue",
        rows=rows,
        total=total,
        page=number,
        pages=pages,
        prev_url=page_url(number - 1) if number > 1 else None,
        next_url=page_url(number + 1) if number < pages else None,
        filters=filters,
        channels=_channels(store),
        decisions=[d.value for d in HandoffDecision],
        bands=list(SCORE_BANDS),
        sla_states=SLA_STATES,
        statuses=STATUSES,
        notice=notice,
        now=now,
        sla_hours=(
            int(SLA_DECIDE.total_seconds() // 3600),
            int(SLA_CONTACT.total_seconds() // 3600),
        ),
    )


# --- the lead page -------------------------------------------------------------------------------


def _reasons(decision: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Reasons for the chart, strongest first within each sign, scaled to the largest."""
    items = [
        r
        for r in decision.get("reasons") or []
        if isinstance(r, Mapping) and isinstance(r.get("contribution"), int | float)
    ]
    positive = sorted((r for r in items if r["contribution"] > 0), key=lambda r: -r["contribution"])
    negative = sorted((r for r in items if r["contribution"] < 0), key=lambda r: r["contribution"])
    scale = max((abs(r["contribution"]) for r in items), default=0.0) or 1.0
    return [
        {
            "field": str(r.get("field", "")),
            "text": str(r.get("text", "")),
            "contribution": float(r["contribution"]),
            "share": abs(float(r["contribution"])) / scale,
            "positive": r["contribution"] > 0,
        }
        for r in [*positive, *negative]
    ]


def _timeline(features: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The touch timeline, newest first, with days before the scoring moment."""
    as_of = _parse_time(features.get("as_of"))
    out = []
    for touch in features.get("touches") or []:
        if not isinstance(touch, Mapping):
            continue
        at = _parse_time(touch.get("at"))
        if at is None:
            continue
        days = (as_of - at).days if as_of is not None else None
        out.append({"at": at, "type": str(touch.get("type", "")), "days": days})
    out.sort(key=lambda t: t["at"], reverse=True)
    return out


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _timeline_strip(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dots for the SVG strip: x in [0, 1] from the first touch to the scoring moment."""
    if not timeline:
        return []
    first = min(t["at"] for t in timeline)
    last = max(t["at"] for t in timeline)
    span = (last - first).total_seconds() or 1.0
    return [{**t, "x": (t["at"] - first).total_seconds() / span} for t in timeline]


def _disqualify_line(request: Request, decision: Mapping[str, Any]) -> float | None:
    """The P(SQL) disqualify line of the policy that made the decision, if still loaded."""
    models = getattr(request.app.state, "models", None)
    current = getattr(models, "current", None)
    if current is None or str(current.version) != str(decision["model_version"]):
        return None
    return float(current.scorer.policy.disqualify_below)


def _gauge(p_won: float, threshold: float) -> dict[str, float]:
    """Positions (0..1) of P(won) and the threshold on one scale for the gauge."""
    top = min(1.0, max(2.0 * threshold, 1.15 * p_won, 0.05))
    return {"top": top, "value": _clamp(p_won / top), "threshold": _clamp(threshold / top)}


def _lead_page(
    request: Request,
    user: PageUser,
    lead_id: str,
    *,
    errors: list[dict[str, str]] | None = None,
    form: Mapping[str, str] | None = None,
    note_errors: list[dict[str, str]] | None = None,
    note_form: Mapping[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    store: Store = request.app.state.store
    decision = store.last_decision(lead_id)
    if decision is None:
        t = Translator(_language(request)[0])
        return _error_page(
            request, 404, "error.not_found.title", t("error.no_lead", lead_id=lead_id), user
        )
    state = lead_state(store, lead_id) or {}
    if state:
        _flag_breaches(store, [state], _now(), SlaClocks.from_settings(request.app.state.settings))
    features = decision.get("features") or {}
    timeline = _timeline(features)
    form = dict(form or {})
    form.setdefault("idem", f"ui-{uuid.uuid4().hex}")
    note_form = dict(note_form or {})
    note_form.setdefault("idem", f"ui-{uuid.uuid4().hex}")
    fit = decision["fit_score"] if decision["fit_score"] >= 0 else None
    engagement = decision["engagement_score"] if decision["engagement_score"] >= 0 else None
    return render(
        request,
        "lead.html",
        user=user,
        active="queue",
        status_code=status_code,
        here=f"/ui/leads/{lead_id}",
        lead_id=lead_id,
        d=decision,
        state=state,
        distance=decision["p_won"] - decision["threshold"],
        ratio=decision["p_won"] / decision["threshold"] if decision["threshold"] > 0 else None,
        gauge=_gauge(decision["p_won"], decision["threshold"]),
        disqualify_line=_disqualify_line(request, decision),
        fit=fit,
        engagement=engagement,
        reasons=_reasons(decision),
        profile=[(f, features[f]) for f in PROFILE_FIELDS if features.get(f) not in (None, "")],
        created_at=_parse_time(features.get("created_at")),
        timeline=timeline,
        strip=_timeline_strip(timeline),
        history=_feedback_history(store, lead_id),
        reasons_vocabulary=[r.value for r in RejectionReason],
        errors=errors or [],
        error_fields={e["field"] for e in errors or []},
        form=form,
        note_errors=note_errors or [],
        note_form=note_form,
        notice=notice,
    )


def _valid_lead_id(lead_id: str) -> bool:
    return bool(LEAD_ID_PATTERN.match(lead_id))


def _not_found(request: Request, user: PageUser, lead_id: str) -> HTMLResponse:
    t = Translator(_language(request)[0])
    shown = lead_id if _valid_lead_id(lead_id) else "?"
    return _error_page(
        request, 404, "error.not_found.title", t("error.no_lead", lead_id=shown), user
    )


@router.get("/ui/leads/{lead_id}")
def lead_page(
    request: Request,
    lead_id: str,
    user: SalesUser,
    noted: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    if not _valid_lead_id(lead_id):
        return _not_found(request, user, lead_id)
    _flush(request)
    t = Translator(_language(request)[0])
    return _lead_page(request, user, lead_id, notice=t("lead.noted") if noted else None)


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


def _store_feedback(
    request: Request,
    user: PageUser,
    lead_id: str,
    body: dict[str, Any],
    idem: str,
) -> tuple[bool, list[dict[str, str]]]:
    """Validate and store one feedback event like ``POST /v1/feedback``.

    Returns ``(stored_or_replayed, errors)``. A resubmission of a form already stored
    (same idempotency key, same person and lead) counts as stored: a double click, a
    reload or the back button never records a decision twice.
    """
    store: Store = request.app.state.store
    previous = _feedback_by_key(store, idem)
    if previous is not None:
        if _same_submission(previous, user, lead_id, body):
            return True, []
        return False, [{"field": "form", "message": "reused"}]
    try:
        checked = FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        return False, error_items(exc.errors())
    late = times_after(checked, _now(), request.app.state.settings.clock_skew)
    if late:  # the API's rule; a form's times are the pages' clock unless a person types one
        return False, error_items(late)
    _flush(request)  # link the feedback to the newest decision, as the API does
    metrics = getattr(request.app.state, "metrics", None)
    try:
        row, created = store.add_feedback(
            checked.model_dump(exclude_none=True, mode="json"),
            idempotency_key=idem,
            actor=user.name,
            on_breach=None if metrics is None else metrics.count_breach,
        )
    except IdempotencyConflict:
        # two submits raced past the check above: the winner's row decides
        winner = _feedback_by_key(store, idem)
        if winner is not None and _same_submission(winner, user, lead_id, body):
            return True, []
        return False, [{"field": "form", "message": "reused"}]
    except LifecycleViolation as exc:  # the lead's lifecycle refuses it: say which rule
        violation = exc.violation
        return False, [
            {
                "field": violation.field,
                "message": violation.message,
                "status": str(violation.status),
            }
        ]
    except ValueError as exc:
        return False, [{"field": "body", "message": str(exc)}]
    if created:
        if metrics is not None:
            metrics.feedback.labels(row["kind"]).inc()
        log.info("page feedback stored: kind=%s", row["kind"])
    return True, []


def _translated_errors(t: Translator, errors: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for error in errors:
        if error["field"] == "form" and error["message"] == "reused":
            out.append({"field": "form", "message": t("form.error.reused")})
            continue
        message = error["message"]
        if t.lang == "ru":
            message = {
                "a rejection needs a reason tag": "для отказа нужна причина",
                "only a rejection carries a reason tag": "причина указывается только при отказе",
            }.get(message, message)
        out.append({"field": error["field"], "message": message})
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
    t = Translator(_language(request)[0])
    if not _valid_lead_id(lead_id):
        return _not_found(request, user, lead_id)
    if not _check_csrf(user, csrf):
        return _error_page(request, 403, "error.forbidden.title", t("error.csrf"), user)
    if request.app.state.store.last_decision(lead_id) is None:
        _flush(request)
        if request.app.state.store.last_decision(lead_id) is None:
            return _not_found(request, user, lead_id)
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
        return _lead_page(request, user, lead_id, errors=errors, form=form, status_code=422)
    body: dict[str, Any] = {
        "lead_id": lead_id,
        "kind": kind,
        "at": _now().replace(microsecond=0),
    }
    if reason:
        body["reason"] = reason
    if contact_attempts.strip():
        attempts = contact_attempts.strip()
        # a form sends text; the API's number is strict (a JSON true is not 1)
        body["contact_attempts"] = int(attempts) if attempts.isdecimal() else attempts
    if comment.strip():
        body["comment"] = comment
    if kind == "accepted" and (form["bant"] or form["gpct"]):
        body["qualification"] = _qualification(form["bant"], form["gpct"])
    ok, errors = _store_feedback(request, user, lead_id, body, form["idem"])
    if not ok:
        reused = any(e["field"] == "form" for e in errors)
        if reused:
            form["idem"] = f"ui-{uuid.uuid4().hex}"
        conflict = reused or any(e.get("status") == "409" for e in errors)
        return _lead_page(
            request,
            user,
            lead_id,
            errors=_translated_errors(t, errors),
            form=form,
            status_code=409 if conflict else 422,
        )
    return _redirect("/ui/queue?" + urlencode({"recorded": lead_id, "kind": kind}))


@router.post("/ui/leads/{lead_id}/disagree")
def record_disagreement(
    request: Request,
    lead_id: str,
    user: SalesUser,
    csrf: Annotated[str, Form(max_length=200)] = "",
    idem: Annotated[str, Form(max_length=200)] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    t = Translator(_language(request)[0])
    if not _valid_lead_id(lead_id):
        return _not_found(request, user, lead_id)
    if not _check_csrf(user, csrf):
        return _error_page(request, 403, "error.forbidden.title", t("error.csrf"), user)
    _flush(request)
    if request.app.state.store.last_decision(lead_id) is None:
        return _not_found(request, user, lead_id)
    note_form = {"idem": _idem_or_new(idem), "comment": comment}
    if not comment.strip():
        field, message = t("form.error.comment_required").split(": ", 1)
        return _lead_page(
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
        "at": _now().replace(microsecond=0),
        "comment": comment,
    }
    ok, errors = _store_feedback(request, user, lead_id, body, note_form["idem"])
    if not ok:
        if any(e["field"] == "form" for e in errors):
            note_form["idem"] = f"ui-{uuid.uuid4().hex}"
        return _lead_page(
            request,
            user,
            lead_id,
            note_errors=_translated_errors(t, errors),
            note_form=note_form,
            status_code=422,
        )
    return _redirect(f"/ui/leads/{lead_id}?noted=1")


# --- the marketing overview ------------------------------------------------------------------


def model_versions(settings: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The registry's versions of the served model, newest first, or ``([], error)``."""
    try:
        from mlflow import MlflowClient

        client = MlflowClient(settings.resolved_tracking_uri, settings.resolved_registry_uri)
        found = client.search_model_versions(f"name='{settings.model_name}'")
        # search results leave ``aliases`` empty on some stores: read them from the model
        aliases: dict[str, set[str]] = {}
        if found:
            for alias, version in (
                client.get_registered_model(settings.model_name).aliases or {}
            ).items():
                aliases.setdefault(str(version), set()).add(str(alias))
    except Exception as exc:  # the registry is optional for this page
        log.warning("model registry not readable: %s", exc.__class__.__name__)
        return [], exc.__class__.__name__
    metric = settings.promotion_metric
    out = []
    for version in found:
        tags = dict(version.tags or {})
        promotion: dict[str, Any] = {}
        with contextlib.suppress(ValueError, TypeError):
            parsed = json.loads(tags.get("promotion") or "{}")
            promotion = parsed if isinstance(parsed, dict) else {}
        out.append(
            {
                "version": str(version.version),
                "aliases": sorted(
                    set(version.aliases or []) | aliases.get(str(version.version), set())
                ),
                "created": datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
                if version.creation_timestamp
                else None,
                "metric": _float(tags.get(metric)),
                "threshold": _float(tags.get("handoff_threshold")),
                "policy_method": tags.get("policy_method"),
                "promotion": promotion,
            }
        )
    out.sort(key=lambda v: int(v["version"]) if v["version"].isdigit() else 0, reverse=True)
    return out, None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


SEGMENTS: tuple[str, ...] = ("channel", "industry", "company_size")


def _marketing_report(store: Store, clocks: SlaClocks | None = None) -> dict[str, Any]:
    from serving.reports import build_report, from_store

    data = from_store(
        store.decisions_for_training(), store.feedback_frame(), clocks=clocks, as_of=_now()
    )
    return build_report(data, group_by=SEGMENTS, sections=("funnel", "rejections", "sla"))


@router.get("/ui/marketing")
def marketing(request: Request, user: MarketingUser) -> Response:
    _flush(request)
    store: Store = request.app.state.store
    report = _marketing_report(store, SlaClocks.from_settings(request.app.state.settings))
    versions, registry_error = model_versions(request.app.state.settings)
    funnel_rows = [r for r in report["funnel"]["rows"] if r["dimension"] == "channel"]
    funnel_rows.sort(key=lambda r: -(r["leads"] or 0))
    scale = max([r["leads"] or 0 for r in funnel_rows] + [1])
    rejections = report["rejections"]
    total_reasons = (rejections["total"] or {}).get("reasons", {})
    # (colour index, reason) of the tags used at all: unused tags would be empty columns
    shown_reasons = [
        (i, r) for i, r in enumerate(rejections["reasons"]) if total_reasons.get(r, {}).get("count")
    ]
    rejection_groups = {
        dim: sorted(
            (r for r in rejections["rows"] if r["dimension"] == dim and r["rejections"]),
            key=lambda r: -r["rejections"],
        )
        for dim in SEGMENTS
    }
    sla_rows = [r for r in report["sla"]["rows"] if r["dimension"] == "channel"]
    sla_rows.sort(key=lambda r: -(r["handed_over"] or 0))
    notes = [
        *report.get("notes", []),
        *report["funnel"].get("notes", []),
        *report["rejections"].get("notes", []),
        *report["sla"].get("notes", []),
    ]
    return render(
        request,
        "marketing.html",
        user=user,
        active="marketing",
        report=report,
        period=report["period"],
        funnel_total=report["funnel"]["total"],
        funnel_rows=funnel_rows,
        funnel_scale=scale,
        shown_reasons=shown_reasons,
        rejection_total=rejections["total"],
        rejection_groups=rejection_groups,
        segments=SEGMENTS,
        sla_total=report["sla"]["total"],
        sla_rows=sla_rows,
        versions=versions,
        registry_error=registry_error,
        metric_name=request.app.state.settings.promotion_metric,
        notes=notes,
        warnings=report.get("warnings", []),
    )


# --- wiring ------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their error handlers to ``app``."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=str(STATIC)), name="ui-static")
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(PageForbidden, _forbidden)
