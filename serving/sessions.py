"""Page sessions (``/ui``): signed cookies that the server can end.

The browser gets a cookie holding a random session id signed with itsdangerous (so a
forged or altered cookie is refused before the database is asked). The server keeps one
``ui_sessions`` row per session, holding the sha256 of that id and of the API key signed
in with — never the key itself, so a copied cookie is no API key and a copy of the
database opens no session. A session ends

* at once when the user signs out (the row is deleted: the old cookie opens nothing),
* after ``ui_session_idle_minutes`` without a page view,
* ``ui_session_max_hours`` after sign-in, whatever the activity,
* when its API key is revoked or disappears (the pages re-read the key on every view).

The signing secret comes from the ``ui_session_secret`` setting
(``LEADSCORE_UI_SESSION_SECRET``; give every server process the same value), else from
``<home>/ui-session.key``, created on first use (0600), which the processes of one host
and its restarts share. Form (CSRF) tokens are the session id signed under another salt,
so they are bound to the session and die with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from sqlalchemy import delete, insert, or_, select, update

from scoring.settings import Settings
from serving.host_secret import read_or_create_secret
from serving.storage import Store
from serving.tables import PageSession

__all__ = [
    "COOKIE_PATH",
    "SESSION_COOKIE",
    "Session",
    "csrf_token",
    "end_session",
    "read_session",
    "secure_cookies",
    "session_secret",
    "start_session",
]

SESSION_COOKIE = "leadscore_session"
COOKIE_PATH = "/ui"
SECRET_FILE = "ui-session.key"
MAX_TOKEN_CHARS = 1024
TOUCH_EVERY = timedelta(seconds=60)
"""``last_seen_at`` is written at most this often: a page view does not always cost a write."""

_SESSION_SALT = "leadscore.ui-session"
_CSRF_SALT = "leadscore.ui-csrf"


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: its (secret) id, which binds the form tokens, and its key's hash."""

    sid: str
    key_hash: str


def session_secret(request: Request) -> bytes:
    """The signing key of sessions and form tokens: the setting, else the home's file.

    Cached on the app: the file is read once per process.
    """
    cached: bytes | None = getattr(request.app.state, "ui_session_secret", None)
    if cached is not None:
        return cached
    settings: Settings = request.app.state.settings
    if settings.ui_session_secret is not None:
        secret = settings.ui_session_secret.get_secret_value().encode()
    else:
        secret = read_or_create_secret(settings.home / SECRET_FILE, "UI session secret")
    request.app.state.ui_session_secret = secret
    return secret


def secure_cookies(request: Request) -> bool:
    """Whether cookies get ``Secure``: always if the setting says so, else on https only.

    Behind a proxy that ends TLS the server sees http, so without the setting the cookie
    would travel without ``Secure``.
    """
    return bool(request.app.state.settings.secure_cookies) or request.url.scheme == "https"


# --- tokens ---------------------------------------------------------------------------------


def _serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SESSION_SALT)


def csrf_token(secret: bytes, sid: str) -> str:
    """The form token of a session: its id signed under the form salt (never the id)."""
    return Signer(secret, salt=_CSRF_SALT).get_signature(sid).decode("ascii")


def _id_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


# --- the store side ---------------------------------------------------------------------------


def start_session(
    store: Store, settings: Settings, secret: bytes, key_hash: str, now: datetime | None = None
) -> str:
    """Record a new session for the key ``key_hash``; return the cookie value.

    Also deletes the sessions that have expired (sign-ins are rare, so this is cheap),
    so the table holds only live sessions.
    """
    moment = now or _now()
    sid = secrets.token_urlsafe(32)
    table = PageSession.__table__
    with store.engine.begin() as conn:
        conn.execute(
            delete(table).where(
                or_(
                    table.c.last_seen_at <= moment - settings.ui_session_idle,
                    table.c.created_at <= moment - settings.ui_session_max_age,
                )
            )
        )
        conn.execute(
            insert(table).values(
                id_hash=_id_hash(sid), key_hash=key_hash, created_at=moment, last_seen_at=moment
            )
        )
    return _serializer(secret).dumps(sid)


def _sid_from_token(secret: bytes, token: str | None, settings: Settings) -> str | None:
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        sid = _serializer(secret).loads(
            token, max_age=int(settings.ui_session_max_age.total_seconds())
        )
    except BadSignature:  # also SignatureExpired
        return None
    return sid if isinstance(sid, str) else None


def read_session(
    store: Store, settings: Settings, secret: bytes, token: str | None, now: datetime | None = None
) -> Session | None:
    """The live session behind a cookie value, else ``None`` (forged, ended, expired).

    A valid view moves the inactivity timer (written at most every :data:`TOUCH_EVERY`);
    an expired session's row is deleted on the way.
    """
    sid = _sid_from_token(secret, token, settings)
    if sid is None:
        return None
    moment = now or _now()
    table = PageSession.__table__
    id_hash = _id_hash(sid)
    with store.engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id_hash == id_hash)).mappings().first()
    if row is None:
        return None
    if (
        row["last_seen_at"] <= moment - settings.ui_session_idle
        or row["created_at"] <= moment - settings.ui_session_max_age
    ):
        with store.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.id_hash == id_hash))
        return None
    if moment - row["last_seen_at"] >= TOUCH_EVERY:
        with store.engine.begin() as conn:
            conn.execute(
                update(table).where(table.c.id_hash == id_hash).values(last_seen_at=moment)
            )
    return Session(sid, row["key_hash"])


def end_session(store: Store, settings: Settings, secret: bytes, token: str | None) -> bool:
    """End the session behind a cookie value at once; ``True`` if there was one."""
    sid = _sid_from_token(secret, token, settings)
    if sid is None:
        return False
    table = PageSession.__table__
    with store.engine.begin() as conn:
        result = conn.execute(delete(table).where(table.c.id_hash == _id_hash(sid)))
    return bool(result.rowcount)
