"""Helpers that act on a started app through its TestClient: keys and signing in.

Shared by the integration tests (they used to be imported from ``test_api.py`` and
``test_pages.py``).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from serving.tables import Role


def key(client: TestClient, role: Role) -> dict[str, str]:
    """API headers with a new key of ``role``."""
    raw = client.app.state.store.create_api_key(f"test-{role.value}", role)
    return {"X-API-Key": raw}


def new_key(client: TestClient, role: Role, name: str | None = None) -> str:
    return client.app.state.store.create_api_key(name or f"ui-{role.value}", role)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name!r}"
    return match.group(1)


def sign_in(client: TestClient, raw_key: str, next_url: str = "") -> Any:
    form = client.get("/ui/login")
    assert form.status_code == 200
    return client.post(
        "/ui/login",
        data={"api_key": raw_key, "csrf": hidden(form.text, "csrf"), "next": next_url},
        follow_redirects=False,
    )


def signed_in(client: TestClient, role: Role) -> TestClient:
    response = sign_in(client, new_key(client, role))
    assert response.status_code == 303, response.text
    return client
