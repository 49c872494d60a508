"""API-key authentication and role checks for the FastAPI endpoints.

Every endpoint declares who may call it::

    @app.post("/feedback")
    def feedback(principal: Annotated[Principal, Depends(require_roles(Role.SALES))]): ...

A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>`` and resolved by
the :class:`~serving.storage.Store` in ``request.app.state.store``. Deny by default:
``require_roles()`` with no roles admits only ``admin``, and ``admin`` is admitted
everywhere. 401 means "who are you?" (no key, unknown or revoked key), 403 "you may not",
429 "too many unknown keys from you (or for this key prefix): wait ``Retry-After``
seconds" (:mod:`serving.ratelimit`). The raw key is never logged or echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.ratelimit import FailureLimiter, failure_subjects, retry_after_header
from serving.roles import Role

if TYPE_CHECKING:  # the store's tables name the roles: only the type comes from there
    from serving.storage import Store

__all__ = [
    "AdminPrincipal",
    "Principal",
    "Role",
    "api_key_from_request",
    "optional_principal",
    "require_roles",
]


# auto_error=False: the dependency decides between 401 and 403 itself; these two objects
# exist so that the OpenAPI page offers both ways of sending a key.
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="leadscore API key (lsk_...)"
)
_bearer = HTTPBearer(auto_error=False, description="leadscore API key as a bearer token")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="leadscore"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the API key's name (recorded as ``actor``) and its role."""

    name: str
    role: Role


async def api_key_from_request(
    x_api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """The raw key from ``X-API-Key`` (preferred) or ``Authorization: Bearer``, if any."""
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    if bearer is not None and bearer.credentials.strip():
        return bearer.credentials.strip()
    return None


def _look_up(
    store: Store, limiter: FailureLimiter, raw_key: str, request: Request
) -> tuple[tuple[str, Role] | None, int | None]:
    """A key the cache did not know: ``(principal or None, seconds to wait or None)``.

    A locked-out client address or key prefix is not looked up at all; an unknown key
    counts one failure for both.
    """
    subjects = failure_subjects(request, raw_key)
    wait = limiter.locked(subjects)
    if wait is not None:
        return None, wait
    found = store.role_for_key(raw_key)
    if found is None:
        limiter.fail(subjects)
    return found, None


def require_roles(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting callers whose key has one of ``roles`` (``admin`` always).

    The returned dependency answers a cached key on the event loop (no thread-pool hop)
    and runs the database lookup of a cache miss in the thread pool, never on the loop.
    It also leaves the principal in ``request.state.principal`` for access logs.
    """
    allowed = frozenset(Role(r) for r in roles) | {Role.ADMIN}
    allowed_text = ", ".join(sorted(r.value for r in allowed))

    async def dependency(
        request: Request,
        raw_key: Annotated[str | None, Depends(api_key_from_request)],
    ) -> Principal:
        if raw_key is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, detail="missing API key", headers=_CHALLENGE
            )
        store: Store = request.app.state.store
        found = store.cached_role_for_key(raw_key)  # the hot path: no limiter, no I/O
        if found is None:
            found, wait = await run_in_threadpool(
                _look_up, store, request.app.state.auth_limiter, raw_key, request
            )
            if wait is not None:
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    detail=f"too many failed authentications: retry after {wait} s",
                    headers=retry_after_header(wait),
                )
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="invalid API key",
                headers={"WWW-Authenticate": 'Bearer realm="leadscore", error="invalid_token"'},
            )
        principal = Principal(name=found[0], role=Role(found[1]))
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=(
                    f"role '{principal.role.value}' may not {request.method} "
                    f"{request.url.path} (allowed: {allowed_text})"
                ),
            )
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_roles_{'_'.join(sorted(r.value for r in allowed))}"
    return dependency


async def optional_principal(
    request: Request,
    raw_key: Annotated[str | None, Depends(api_key_from_request)],
) -> Principal | None:
    """The caller if a valid key came along, else ``None``; never refuses anyone.

    For public endpoints that show more to some roles (``/readyz``). An unknown key
    counts as a failed authentication like anywhere else, so such an endpoint is no
    oracle for guessing keys; a locked-out caller is simply anonymous.
    """
    if raw_key is None:
        return None
    store: Store = request.app.state.store
    found = store.cached_role_for_key(raw_key)
    if found is None:
        found, _ = await run_in_threadpool(
            _look_up, store, request.app.state.auth_limiter, raw_key, request
        )
    return None if found is None else Principal(name=found[0], role=Role(found[1]))


AdminPrincipal = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
"""Shorthand for admin-only endpoints: ``def rotate(principal: AdminPrincipal): ...``."""
