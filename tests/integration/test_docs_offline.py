"""``/docs`` and ``/redoc`` work without internet (issue 13, item 8): no URL of another host
in their HTML, and every file they load is served by the app."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(("page", "script"), [("/docs", "SwaggerUIBundle"), ("/redoc", "Redoc")])
def test_docs_pages_load_everything_from_the_app(make_client, page: str, script: str) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = make_client()
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"(https?:)?//[\w.-]+\.\w", html), "a URL of another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        loaded = client.get(asset)
        assert loaded.status_code == 200, asset
        assert len(loaded.content) > 1_000, asset  # the file itself, not an error page
    bundle = next(a for a in assets if a.endswith(".js"))
    assert script in client.get(bundle).text
    assert "/openapi.json" in html
