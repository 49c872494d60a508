"""Who is signed in to the pages, and what their role may see.

The session itself (the signed cookie the server can end, the form token bound to it)
is :mod:`serving.sessions`; this module turns it into a :class:`PageUser` and admits
or refuses them page by page: not signed in is a redirect to the sign-in page
(:class:`NotSignedIn`), another role a 403 page (:class:`PageForbidden`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from serving.auth import Principal, Role
from serving.sessions import SESSION_COOKIE, csrf_token, read_session, session_secret
from serving.storage import Store

PAGE_ROLES: dict[str, frozenset[Role]] = {
    "queue": frozenset({Role.SALES, Role.ADMIN}),
    "marketing": frozenset({Role.MARKETING, Role.ADMIN}),
}


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


def check_csrf(user: PageUser, token: str) -> bool:
    return bool(token) and secrets.compare_digest(user.csrf, token)


def safe_next(target: str | None) -> str | None:
    """Only local page paths: no open redirect through ``?next=``."""
    if not target or not target.startswith("/ui") or len(target) > 2000:
        return None
    if target.startswith("//") or "\\" in target or "//" in target.split("?")[0]:
        return None
    return target


def home_of(user: PageUser) -> str:
    if user.may("queue"):
        return "/ui/queue"
    if user.may("marketing"):
        return "/ui/marketing"
    return "/ui/forbidden"
