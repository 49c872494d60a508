"""Rendering the pages: templates in the request's language, hardened responses, errors.

Every page answers with ``Cache-Control: no-store`` and a strict Content-Security-Policy
(the charts are inline SVG; the one script, ``static/timezone.js``, is a file of ours that
tells the server the browser's time zone: no inline script runs).

Times are shown in the reader's time zone: ``?tz=Europe/Moscow`` (remembered in a
cookie), else the zone the browser's script stored in that cookie, else the
``LEADSCORE_TIMEZONE`` setting (UTC by default); a name that is not a known IANA zone is
ignored.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from serving.i18n import LANGUAGES, Translator, negotiate
from serving.i18n.formats import time_zone
from serving.page_auth import PageForbidden, PageUser
from serving.sessions import COOKIE_PATH, secure_cookies

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

LANG_COOKIE = "leadscore_lang"
TZ_COOKIE = "leadscore_tz"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def clamp(value: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return min(max(value, lo), hi)


_env.globals["clamp"] = clamp


def page_now(request: Request) -> datetime:
    """The app's clock (``app.state.clock``): the SLA timers' and the forms' moment."""
    return request.app.state.clock()


def flush_decisions(request: Request) -> None:
    """Write the decisions still queued for the log, so a page reads the newest ones."""
    decision_log = getattr(request.app.state, "decision_log", None)
    if decision_log is not None:
        decision_log.flush()


def language(request: Request) -> tuple[str, bool]:
    """``(language, chosen_now)``: ``?lang=``, else the cookie, else ``Accept-Language``."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked, True
    remembered = request.cookies.get(LANG_COOKIE)
    if remembered in LANGUAGES:
        return remembered, False
    return negotiate(request.headers.get("accept-language")), False


def reader_zone(request: Request) -> tuple[ZoneInfo, str | None]:
    """``(zone, chosen_now)``: ``?tz=``, else the cookie, else the setting (a known
    IANA zone each time); ``chosen_now`` is the name to remember, if ``?tz=`` gave one."""
    asked = time_zone(request.query_params.get("tz"))
    if asked is not None:
        return asked, asked.key
    remembered = time_zone(unquote(request.cookies.get(TZ_COOKIE, "")))
    if remembered is not None:
        return remembered, None
    return time_zone(request.app.state.settings.timezone) or ZoneInfo("UTC"), None


def lang_links(request: Request, here: str | None) -> list[tuple[str, str]]:
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    if request.method != "GET":
        params = {}  # a re-rendered form: switch on the page it came from
    path = here or request.url.path
    return [(code, f"{path}?{urlencode({**params, 'lang': code})}") for code in LANGUAGES]


def harden(response: Response) -> Response:
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
    lang, chosen = language(request)
    zone, zone_chosen = reader_zone(request)
    t = Translator(lang, zone)
    html = _env.get_template(template).render(
        t=t,
        lang=lang,
        user=user,
        csrf=user.csrf if user else "",
        lang_links=lang_links(request, here),
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
    if zone_chosen:
        response.set_cookie(
            TZ_COOKIE,
            quote(zone_chosen, safe=""),
            max_age=365 * 24 * 3600,
            path=COOKIE_PATH,
            samesite="lax",
            secure=secure_cookies(request),
        )
    return harden(response)  # type: ignore[return-value]


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    harden(response)
    return response


def error_page(
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


async def not_signed_in(request: Request, exc: Exception) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":  # back to the page of the form, not to its POST address
        target = (
            request.url.path.rsplit("/", 1)[0]
            if request.url.path.startswith("/ui/leads/")
            else "/ui"
        )
    return redirect("/ui/login?" + urlencode({"next": target}))


async def forbidden_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    t = Translator(language(request)[0])
    allowed = ", ".join(t(f"role.{r.value}") for r in sorted(exc.allowed, key=lambda r: r.value))
    text = t("error.forbidden.text", role=t(f"role.{exc.user.role.value}"), allowed=allowed)
    return error_page(request, 403, "error.forbidden.title", text, exc.user)
