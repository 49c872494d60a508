"""The API-key dependency, through a tiny FastAPI app, on both databases."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from serving.auth import AdminPrincipal, Principal, Role, require_roles
from serving.ratelimit import FailureLimiter, MemoryLimiter
from serving.storage import Store


def make_app(store: Store, limiter: FailureLimiter | None = None) -> FastAPI:
    app = FastAPI()
    app.state.store = store
    app.state.auth_limiter = limiter or MemoryLimiter(max_failures=10, window_seconds=300)

    @app.post("/score")
    def score(principal: Annotated[Principal, Depends(require_roles(Role.SCORER))]) -> dict:
        return {"name": principal.name, "role": principal.role.value}

    @app.get("/report")
    def report(
        principal: Annotated[Principal, Depends(require_roles(Role.MARKETING, Role.SALES))],
    ) -> dict:
        return {"name": principal.name, "role": principal.role.value}

    @app.get("/nobody")
    def nobody(principal: Annotated[Principal, Depends(require_roles())]) -> dict:
        return {"name": principal.name}

    @app.delete("/keys")
    def keys(principal: AdminPrincipal) -> dict:
        return {"name": principal.name}

    return app


@pytest.fixture
def keys(store: Store) -> dict[Role, str]:
    return {role: store.create_api_key(f"{role.value}-key", role) for role in Role}


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(make_app(store))


def test_missing_key_is_401(client: TestClient) -> None:
    response = client.post("/score")
    assert response.status_code == 401
    assert response.json() == {"detail": "missing API key"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # an Authorization header of another scheme is no key either
    response = client.post("/score", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert response.status_code == 401
    assert response.json() == {"detail": "missing API key"}


def test_unknown_key_is_401(client: TestClient, keys: dict[Role, str]) -> None:
    response = client.post("/score", headers={"X-API-Key": "lsk_wrong"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid API key"}
    assert "WWW-Authenticate" in response.headers
    response = client.post("/score", headers={"Authorization": "Bearer lsk_wrong"})
    assert response.status_code == 401
    assert "lsk_wrong" not in response.text


def test_wrong_role_is_403(client: TestClient, keys: dict[Role, str]) -> None:
    response = client.post("/score", headers={"X-API-Key": keys[Role.SALES]})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("role 'sales' may not POST /score")
    response = client.delete("/keys", headers={"X-API-Key": keys[Role.SCORER]})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("role 'scorer' may not")


def test_right_role_is_200(client: TestClient, keys: dict[Role, str]) -> None:
    response = client.post("/score", headers={"X-API-Key": keys[Role.SCORER]})
    assert response.status_code == 200
    assert response.json() == {"name": "scorer-key", "role": "scorer"}
    for role in (Role.MARKETING, Role.SALES):
        response = client.get("/report", headers={"Authorization": f"Bearer {keys[role]}"})
        assert response.status_code == 200, role
        assert response.json()["role"] == role.value


def test_admin_may_do_everything(client: TestClient, keys: dict[Role, str]) -> None:
    headers = {"X-API-Key": keys[Role.ADMIN]}
    assert client.post("/score", headers=headers).status_code == 200
    assert client.get("/report", headers=headers).status_code == 200
    assert client.delete("/keys", headers=headers).status_code == 200
    assert client.get("/nobody", headers=headers).status_code == 200


def test_deny_by_default(client: TestClient, keys: dict[Role, str]) -> None:
    """An endpoint that names no role admits nobody but admin."""
    for role in (Role.SCORER, Role.SALES, Role.MARKETING):
        response = client.get("/nobody", headers={"X-API-Key": keys[role]})
        assert response.status_code == 403, role


def test_revoked_key_is_refused_at_once(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    headers = {"X-API-Key": keys[Role.SCORER]}
    assert client.post("/score", headers=headers).status_code == 200
    store.revoke_api_key("scorer-key")
    response = client.post("/score", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid API key"}


def test_openapi_declares_both_ways_of_sending_a_key(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"apiKey", "http"}
