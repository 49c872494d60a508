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
    The handoff queue: each lead's latest decision, newest first (or, ``sort=change``,
    the largest rise of P(won) over the trend window first: :mod:`serving.trend`),
    filterable by decision, channel, P(won) band and SLA state (``LEADSCORE_SLA_DECISION_HOURS`` to
    accept/reject, ``LEADSCORE_SLA_FIRST_CONTACT_HOURS`` to first contact, counted from
    the handoff: the handing score's ``as_of``); a lead leaves it once sales decided on
    it, and comes back if the model hands it over again after that decision. Its queries
    are :mod:`serving.store.queue`.
``/ui/leads/{lead_id}`` (sales)
    Scores per stage, the decision against the threshold, fit vs engagement, the
    reasons as a chart, the likely objection, the model version and the touch timeline;
    the decision form (accept / reject with a reason tag / return to nurture) and a
    "disagree with the score" note. Both go through :class:`serving.feedback.FeedbackRequest`
    and :func:`serving.feedback.record_feedback` like ``POST /v1/feedback``, with an
    idempotency key made when the form was rendered, so a double submit is stored once
    (:mod:`serving.page_lead`, :mod:`serving.page_forms`).
``/ui/marketing`` (marketing)
    Funnel by channel, rejection reasons by channel and segment, SLA compliance
    (:func:`serving.reports.build_report` on the store) and the model version history
    from the MLflow registry.

Forms are protected against CSRF by the SameSite=Strict session cookie plus a token bound
to the session (the sign-in form: a double-submit cookie). Pages put only the lead id in
URLs, never log form contents and send ``Cache-Control: no-store`` and a strict
Content-Security-Policy (no inline script: the one script is our ``timezone.js`` file; the
charts are inline SVG).

Who is signed in is :mod:`serving.page_auth` (the session itself :mod:`serving.sessions`),
rendering :mod:`serving.page_render`, the overview :mod:`serving.page_marketing`; this
module holds sign-in and the queue. Wire them in with :func:`install`
(``serving.app.create_app`` does).
"""

from __future__ import annotations

import logging
import math
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from scoring.contract import HandoffDecision
from scoring.lifecycle import SlaClocks
from serving.auth import Role
from serving.i18n import Translator
from serving.page_auth import (
    PAGE_ROLES,
    NotSignedIn,
    PageForbidden,
    PageUser,
    SalesUser,
    check_csrf,
    current_user,
    home_of,
    page_user,
    safe_next,
)
from serving.page_forms import FORM_KINDS
from serving.page_forms import router as forms_router
from serving.page_history import with_identities
from serving.page_lead import LEAD_ID_PATTERN
from serving.page_lead import router as lead_router
from serving.page_marketing import router as marketing_router
from serving.page_render import (
    STATIC,
    error_page,
    flush_decisions,
    forbidden_page,
    language,
    not_signed_in,
    page_now,
    redirect,
    render,
)
from serving.ratelimit import failure_subjects, retry_after_header
from serving.sessions import (
    COOKIE_PATH,
    SESSION_COOKIE,
    end_session,
    secure_cookies,
    session_secret,
    start_session,
)
from serving.storage import Store, hash_api_key
from serving.store.queue import (
    HAND,
    PAGE_SIZE,
    SCORE_BANDS,
    SORTS,
    QueueFilters,
    channels,
    lead_state,
    queue_page,
)

__all__ = [
    "SESSION_COOKIE",
    "PageUser",
    "QueueFilters",
    "install",
    "lead_state",
    "page_user",
    "queue_page",
    "router",
]

log = logging.getLogger("leadscore.pages")

router = APIRouter(include_in_schema=False)

LOGIN_COOKIE = "leadscore_login"
MAX_PAGE = 10_000
SLA_STATES: tuple[str, ...] = ("overdue", "due_soon", "on_track")
STATUSES: tuple[str, ...] = ("open", "decided", "all")


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
        next_url=safe_next(next_url) or "",
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
    return redirect("/ui/login" if user is None else home_of(user))


@router.get("/ui/login")
def login_form(request: Request, next: str | None = None) -> Response:
    user = current_user(request)
    if user is not None:
        return redirect(safe_next(next) or home_of(user))
    return _login_page(request, next_url=next)


@router.post("/ui/login")
def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=4096)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    t = Translator(language(request)[0])
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
    response = redirect(safe_next(next) or home_of(user))
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
        return redirect("/ui/login")
    return render(request, "logout.html", user=user)


@router.post("/ui/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    user = current_user(request)
    if user is not None and not check_csrf(user, csrf):
        t = Translator(language(request)[0])
        return error_page(request, 403, "error.forbidden.title", t("error.csrf"), user)
    if user is not None:  # the row goes: the old cookie opens nothing from now on
        end_session(
            request.app.state.store,
            request.app.state.settings,
            session_secret(request),
            request.cookies.get(SESSION_COOKIE),
        )
    response = redirect("/ui/login")
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@router.get("/ui/forbidden")
def forbiddenhome_of(request: Request) -> Response:
    """Where a role with no page (``scorer``) lands after signing in."""
    user = current_user(request)
    if user is None:
        return redirect("/ui/login")
    raise PageForbidden(user, PAGE_ROLES["queue"] | PAGE_ROLES["marketing"])


# --- the handoff queue ----------------------------------------------------------------------


def _choice(value: str | None, allowed: Any) -> str | None:
    return value if value and value in allowed else None


def _queue_filters(
    decision: str | None,
    channel: str | None,
    band: str | None,
    sla: str | None,
    status: str | None,
    sort: str | None = None,
) -> QueueFilters:
    """The query's filters; an unknown choice is no filter. The default view is the open
    handoffs; "all" (an explicit empty decision) widens it."""
    chosen_decision = HAND if decision is None else decision
    return QueueFilters(
        decision=_choice(chosen_decision, {d.value for d in HandoffDecision}),
        channel=channel or None,
        band=_choice(band, SCORE_BANDS),
        sla=_choice(sla, SLA_STATES),
        status=_choice(status, STATUSES) or "open",
        sort=_choice(sort, SORTS) or "recent",
    )


def _page_links(filters: QueueFilters, number: int, pages: int) -> tuple[str | None, str | None]:
    """The previous and next page's addresses, with the same filters."""
    params = {
        "decision": filters.decision or "",
        "channel": filters.channel or "",
        "band": filters.band or "",
        "sla": filters.sla or "",
        "status": filters.status,
        "sort": filters.sort,
    }

    def page_url(n: int) -> str:
        return "/ui/queue?" + urlencode({**params, "page": n})

    return (
        page_url(number - 1) if number > 1 else None,
        page_url(number + 1) if number < pages else None,
    )


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
    sort: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    flush_decisions(request)
    store: Store = request.app.state.store
    filters = _queue_filters(decision, channel, band, sla, status, sort)
    number = int(page) if page and page.isdigit() else 1
    number = min(max(number, 1), MAX_PAGE)
    now = page_now(request)
    clocks = SlaClocks.from_settings(request.app.state.settings)
    rows, total = queue_page(store, filters, page=number, now=now, clocks=clocks)
    with_identities(request, rows)  # name, company, CRM link (a sales/admin page)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    prev_url, next_url = _page_links(filters, number, pages)
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
        prev_url=prev_url,
        next_url=next_url,
        filters=filters,
        channels=channels(store),
        decisions=[d.value for d in HandoffDecision],
        bands=list(SCORE_BANDS),
        sla_states=SLA_STATES,
        statuses=STATUSES,
        sorts=SORTS,
        notice=notice,
        now=now,
        sla_hours=(f"{clocks.decision_hours:g}", f"{clocks.first_contact_hours:g}"),
    )


# --- wiring ------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Add the pages, their static files and their error handlers to ``app``."""
    for pages in (router, lead_router, forms_router, marketing_router):
        app.include_router(pages)
    app.mount("/ui/static", StaticFiles(directory=str(STATIC)), name="ui-static")
    app.add_exception_handler(NotSignedIn, not_signed_in)
    app.add_exception_handler(PageForbidden, forbidden_page)
