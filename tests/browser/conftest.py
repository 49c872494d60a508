"""The browser tests' fixtures: one headless system Chromium per module and the app
served by a real uvicorn per test (helpers in :mod:`tests.browser.browser_helpers`)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REQUIRED,
    LiveServer,
    browser_missing,
)
from tests.model_fixtures import Registry


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless system Chromium for the module (skips or fails without one)."""
    reason = browser_missing()
    if reason is not None:
        if REQUIRED:
            pytest.fail(f"LEADSCORE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def live_server(registry: Registry, tmp_path: Path) -> Iterator[LiveServer]:
    """The app from ``create_app(settings)`` served by uvicorn on a free 127.0.0.1 port."""
    import uvicorn

    from serving.app import create_app

    settings = registry.settings(
        registry.root / "serving-home", database_url=f"sqlite:///{tmp_path / 'browser.sqlite'}"
    )
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
