"""Page sessions (``serving.sessions``): signed, revocable server-side, expiring when idle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update

from serving.pages import SESSION_COOKIE
from serving.sessions import read_session, start_session
from serving.storage import Store
from serving.tables import PageSession, Role
from tests.clients import hidden, new_key, sign_in

SECRET = "s" * 40


def _session_rows(client: TestClient) -> list[dict[str, object]]:
    store: Store = client.app.state.store
    table = PageSession.__table__
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def test_sign_out_ends_the_session_on_the_server(
    make_client: Callable[..., TestClient],
) -> None:
    """A copy of the cookie taken before signing out opens nothing afterwards."""
    client = make_client()
    assert sign_in(client, new_key(client, Role.SALES)).status_code == 303
    page = client.get("/ui/queue")
    assert page.status_code == 200
    stolen = client.cookies[SESSION_COOKIE]
    (row,) = _session_rows(client)
    assert stolen not in str(row)  # the row holds a hash of the id, not the cookie

    assert client.post("/ui/logout", data={"csrf": hidden(page.text, "csrf")}).status_code == 200
    assert _session_rows(client) == []

    replay = TestClient(client.app)  # another browser, same app, the old cookie
    replay.cookies.set(SESSION_COOKIE, stolen, path="/ui")
    response = replay.get("/ui/queue", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login")


def test_a_session_ends_after_inactivity_and_a_view_keeps_it_alive(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(ui_session_idle_minutes=30)
    assert sign_in(client, new_key(client, Role.SALES)).status_code == 303
    store: Store = client.app.state.store
    table = PageSession.__table__

    def last_seen(ago: timedelta) -> None:
        with store.engine.begin() as conn:
            conn.execute(update(table).values(last_seen_at=datetime.now(UTC) - ago))

    last_seen(timedelta(minutes=29))
    assert client.get("/ui/queue", follow_redirects=False).status_code == 200
    (row,) = _session_rows(client)
    assert datetime.now(UTC) - row["last_seen_at"] < timedelta(minutes=1)  # moved by the view

    last_seen(timedelta(minutes=31))
    assert client.get("/ui/queue", follow_redirects=False).status_code == 303
    assert _session_rows(client) == []  # the expired row is gone


def test_a_session_ends_at_its_maximum_age_whatever_the_activity(store: Store) -> None:
    from scoring.settings import Settings

    settings = Settings(home=Path("/nonexistent"), ui_session_max_hours=12)
    secret = SECRET.encode()
    signed_in = datetime.now(UTC) - timedelta(hours=12, minutes=1)
    token = start_session(store, settings, secret, "ab" * 32, now=signed_in)
    with store.engine.begin() as conn:  # active a minute ago
        conn.execute(
            update(PageSession.__table__).values(
                last_seen_at=datetime.now(UTC) - timedelta(minutes=1)
            )
        )
    assert read_session(store, settings, secret, token) is None
    fresh = start_session(store, settings, secret, "ab" * 32)
    session = read_session(store, settings, secret, fresh)
    assert session is not None and session.key_hash == "ab" * 32


def test_forged_and_foreign_cookies_open_nothing(store: Store) -> None:
    from scoring.settings import Settings

    settings = Settings(home=Path("/nonexistent"))
    secret = SECRET.encode()
    token = start_session(store, settings, secret, "cd" * 32)
    assert read_session(store, settings, secret, token) is not None
    assert read_session(store, settings, b"t" * 40, token) is None  # another secret
    assert read_session(store, settings, secret, token[:-2] + "xx") is None  # altered
    assert read_session(store, settings, secret, "x" * 5000) is None
    # a well-signed id the server never issued (or already ended)
    unknown = URLSafeTimedSerializer(secret, salt="leadscore.ui-session").dumps("never-issued")
    assert read_session(store, settings, secret, unknown) is None


def test_processes_sharing_the_secret_setting_share_sessions(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    """Two server processes (two apps, two homes) on one database and one configured secret."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = make_client(
        home=tmp_path / "host-a", database_url=url, ui_session_secret=SECRET, model_poll_seconds=0
    )
    second = make_client(
        home=tmp_path / "host-b", database_url=url, ui_session_secret=SECRET, model_poll_seconds=0
    )
    other = make_client(home=tmp_path / "host-c", database_url=url)  # its own file secret
    assert sign_in(first, new_key(first, Role.SALES)).status_code == 303
    cookie = first.cookies[SESSION_COOKIE]
    for client, expected in ((second, 200), (other, 303)):
        client.cookies.set(SESSION_COOKIE, cookie, path="/ui")
        assert client.get("/ui/queue", follow_redirects=False).status_code == expected


def test_the_secret_setting_must_be_long(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from scoring.settings import Settings

    with pytest.raises(ValidationError, match="ui_session_secret"):
        Settings(home=tmp_path, ui_session_secret="short")


@pytest.mark.parametrize("forced", [False, True])
def test_cookies_are_secure_on_https_or_when_the_setting_forces_it(
    make_client: Callable[..., TestClient], forced: bool
) -> None:
    """Over plain http (a proxy ending TLS), ``secure_cookies`` still marks every cookie."""
    client = make_client(secure_cookies=forced)
    form = client.get("/ui/login?lang=en")  # http://testserver
    cookies = form.headers.get_list("set-cookie")
    assert len(cookies) == 2  # the sign-in form token and the language
    assert all(("Secure" in c) is forced for c in cookies), cookies
    login_cookie = next(c for c in cookies if c.startswith("leadscore_login="))
    response = client.post(
        "/ui/login",
        data={"api_key": new_key(client, Role.SALES), "csrf": hidden(form.text, "csrf")},
        headers={"cookie": login_cookie.split(";")[0]},  # httpx keeps Secure ones for https
        follow_redirects=False,
    )
    assert response.status_code == 303
    (session_cookie,) = (
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert ("Secure" in session_cookie) is forced
