"""Lock-out after failed authentications (``serving.ratelimit``), in-process and in Redis.

The Redis tests use the real server on 127.0.0.1:6379 (``LEADSCORE_TEST_REDIS_URL``),
each under its own key prefix. Without a Redis server they skip, saying why, unless
``LEADSCORE_REQUIRE_REDIS=1`` (CI), where they fail.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from serving.ratelimit import MemoryLimiter, RedisLimiter, make_limiter
from serving.tables import Role
from tests.clients import hidden, new_key, sign_in
from tests.model_fixtures import ADMIN_KEY

LEAD = {
    "lead_id": "rl-1",
    "created_at": "2026-03-01T09:00:00Z",
    "channel": "seo",
    "industry": "software",
    "company_size": "51-200",
    "as_of": "2026-03-10T09:00:00Z",
    "touches": [],
}


def wrong_key(prefix: str = "") -> str:
    return (prefix or "lsk_") + secrets.token_urlsafe(32)


def score(client: TestClient, key: str) -> int:
    return client.post("/v1/score", json=LEAD, headers={"X-API-Key": key}).status_code


def test_wrong_api_keys_are_locked_out_with_retry_after(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(auth_max_failures=5, auth_failure_window_seconds=120)
    assert score(client, ADMIN_KEY) == 200  # known to this process before the attack
    for _ in range(20):  # no key at all is no guess: not counted
        assert client.post("/v1/score", json=LEAD).status_code == 401
    assert [score(client, wrong_key()) for _ in range(5)] == [401] * 5
    refused = client.post("/v1/score", json=LEAD, headers={"X-API-Key": wrong_key()})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    assert "retry after" in refused.json()["detail"]
    # A key this process already validated costs the limiter nothing and still works;
    # a key it has not seen is not even looked up while the address is locked out.
    assert score(client, ADMIN_KEY) == 200
    assert score(client, new_key(client, Role.SCORER, "fresh-scorer")) == 429
    # another address is not affected
    elsewhere = TestClient(client.app, client=("10.9.8.7", 4000))
    assert score(elsewhere, wrong_key()) == 401


def test_guesses_at_one_key_prefix_are_locked_out_from_any_address(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(auth_max_failures=3)
    prefix = "lsk_Zq7xYw3v"
    for n in range(3):
        spread = TestClient(client.app, client=(f"10.0.0.{n + 1}", 4000))
        assert score(spread, wrong_key(prefix)) == 401
    fourth = TestClient(client.app, client=("10.0.0.99", 4000))
    assert score(fourth, wrong_key(prefix)) == 429
    assert score(fourth, wrong_key("lsk_other123")) == 401


def test_wrong_sign_ins_are_locked_out_with_retry_after(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(auth_max_failures=3, auth_failure_window_seconds=60)
    raw = new_key(client, Role.SALES)
    assert [sign_in(client, wrong_key()).status_code for _ in range(3)] == [401] * 3
    refused = sign_in(client, wrong_key())
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many failed sign-ins" in refused.text
    # the right key from the locked-out address is not looked at either
    assert sign_in(client, raw).status_code == 429
    form = client.get("/ui/login")  # a forged form (no token) is refused before counting
    assert client.post("/ui/login", data={"api_key": raw}).status_code == 403
    assert hidden(form.text, "csrf")


def test_memory_limiter_windows_reset_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.ratelimit as ratelimit

    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(ratelimit, "MAX_SUBJECTS", 50)
    limiter = MemoryLimiter(max_failures=2, window_seconds=30)
    limiter.fail(["a"])
    assert limiter.locked(["a"]) is None
    limiter.fail(["a"])
    assert limiter.locked(["b", "a"]) == 30
    clock[0] += 29.5
    assert limiter.locked(["a"]) == 1
    clock[0] += 1
    assert limiter.locked(["a"]) is None  # the window ended
    for n in range(200):
        limiter.fail([f"s{n}"])
    assert len(limiter._counts) <= 50


# --- Redis: shared by every process -----------------------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis server, or a skip (a failure under ``LEADSCORE_REQUIRE_REDIS=1``)."""
    import redis

    url = os.environ.get("LEADSCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        message = f"Redis not reachable at {url}: {exc.__class__.__name__}: {exc}"
        if os.environ.get("LEADSCORE_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    yield url
    client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"lstest-{secrets.token_hex(4)}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


def test_redis_counts_are_shared_between_processes(
    make_client: Callable[..., TestClient], redis_url: str, redis_prefix: str
) -> None:
    """Two servers (two apps, each with its own memory) on one Redis see one count."""
    import redis

    settings = {
        "redis_url": redis_url,
        "redis_key_prefix": redis_prefix,
        "auth_max_failures": 4,
        "auth_failure_window_seconds": 90,
    }
    first = make_client(**settings)
    second = make_client(**settings)
    assert isinstance(first.app.state.auth_limiter, RedisLimiter)
    assert score(first, ADMIN_KEY) == 200  # known to the first process before the attack
    assert [score(first, wrong_key()) for _ in range(2)] == [401, 401]
    assert [sign_in(second, wrong_key()).status_code for _ in range(2)] == [401, 401]
    for client in (first, second):
        refused = client.post("/v1/score", json=LEAD, headers={"X-API-Key": wrong_key()})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 90
    assert score(first, ADMIN_KEY) == 200  # a key the process knows is never refused
    assert score(second, ADMIN_KEY) == 429  # the second process has not seen it yet

    server = redis.Redis.from_url(redis_url)
    keys = list(server.scan_iter(match=f"{redis_prefix}*"))
    assert keys, "no failure was counted in Redis"
    assert all(0 < server.ttl(k) <= 90 for k in keys)
    assert all(b"lsk_" not in k for k in keys)  # not even a key's prefix is stored
    server.close()


def test_redis_that_does_not_answer_falls_back_to_counting_in_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from scoring.settings import Settings

    settings = Settings(redis_url="redis://127.0.0.1:1/0", auth_max_failures=2)
    limiter = make_limiter(settings)
    assert isinstance(limiter, RedisLimiter)
    with caplog.at_level(logging.WARNING, logger="leadscore.ratelimit"):
        assert limiter.locked(["addr:x"]) is None
        real_client = limiter._client

        class Untouchable:
            def pipeline(self, **_: object) -> None:
                raise AssertionError("Redis asked again right after it failed")

        limiter._client = Untouchable()  # type: ignore[assignment]
        limiter.fail(["addr:x"])
        limiter.fail(["addr:x"])
        assert limiter.locked(["addr:x"]) is not None
    assert "Redis does not answer" in caplog.text
    assert caplog.text.count("Redis does not answer") == 1
    limiter._client = real_client
    limiter.close()
