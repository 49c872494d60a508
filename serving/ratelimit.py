"""Lock-out after failed authentications: 429 with ``Retry-After`` instead of endless 401s.

What is counted: each API key the server does not know (on ``/v1`` and on the sign-in
page), once for the client address and once for the key's prefix, in a fixed window of
``auth_failure_window_seconds``. After ``auth_max_failures`` failures of either subject in
the window, keys not already known to the process are answered 429 until the window ends,
without being looked up.

What it costs a good request: nothing on the hot path. A key found in the store's
in-memory cache never reaches the limiter; a cache miss asks the limiter once, in the
thread pool, next to the database lookup it is about to make anyway. Only failures are
written.

Where the counts live: in the process by default (each worker counts on its own), or in
Redis when ``redis_url`` is set, so every process of a deployment shares them. If Redis
stops answering, the process falls back to its own counts (and says so in the log)
rather than refusing every caller or letting every guess through.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Protocol

from fastapi import Request

from scoring.settings import Settings

__all__ = [
    "FailureLimiter",
    "MemoryLimiter",
    "RedisLimiter",
    "failure_subjects",
    "make_limiter",
    "retry_after_header",
]

log = logging.getLogger("leadscore.ratelimit")

KEY_PREFIX_CHARS = 12
"""How much of a presented key names its "prefix" (``lsk_`` and 8 characters)."""
RETRY_REDIS_AFTER_SECONDS = 30.0
"""After a Redis error, count in the process this long before asking Redis again."""
MAX_SUBJECTS = 100_000
"""The in-process counter keeps at most this many subjects (oldest dropped first)."""


class FailureLimiter(Protocol):
    """Counts failed authentications per subject (a client address, a key prefix)."""

    def locked(self, subjects: Sequence[str]) -> int | None:
        """Seconds until the first of ``subjects`` may try again, or ``None`` if none is locked."""
        ...

    def fail(self, subjects: Sequence[str]) -> None:
        """Count one failure for each of ``subjects``."""
        ...

    def close(self) -> None: ...


def failure_subjects(request: Request, raw_key: str) -> tuple[str, str]:
    """The two subjects a failure counts against: the client address and the key's prefix.

    The prefix is hashed: the counters never hold any part of a real key.
    """
    address = request.client.host if request.client is not None else "unknown"
    prefix = hashlib.sha256(raw_key[:KEY_PREFIX_CHARS].encode()).hexdigest()[:24]
    return f"addr:{address}", f"key:{prefix}"


def retry_after_header(seconds: int) -> dict[str, str]:
    return {"Retry-After": str(max(1, int(seconds)))}


class MemoryLimiter:
    """Fixed-window failure counts in this process (thread-safe, bounded in size)."""

    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._counts: dict[str, tuple[int, float]] = {}  # subject -> (failures, window end)
        self._lock = threading.Lock()

    def locked(self, subjects: Sequence[str]) -> int | None:
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for subject in subjects:
                entry = self._counts.get(subject)
                if entry is not None and entry[1] > now and entry[0] >= self.max_failures:
                    wait = max(wait, entry[1] - now)
        return math.ceil(wait) if wait > 0 else None

    def fail(self, subjects: Sequence[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for subject in subjects:
                failures, ends = self._counts.get(subject, (0, 0.0))
                if ends <= now:
                    failures, ends = 0, now + self.window
                self._counts.pop(subject, None)  # re-insert: the dict stays oldest-first
                self._counts[subject] = (failures + 1, ends)
            if len(self._counts) > MAX_SUBJECTS:
                self._prune(now)

    def _prune(self, now: float) -> None:
        for subject in [s for s, (_, ends) in self._counts.items() if ends <= now]:
            del self._counts[subject]
        while len(self._counts) > MAX_SUBJECTS:
            del self._counts[next(iter(self._counts))]

    def close(self) -> None:
        pass


class RedisLimiter:
    """Fixed-window failure counts in Redis, shared by every process using the same URL.

    A failure is ``INCR`` plus ``EXPIRE … NX`` (the window starts at the first failure);
    a check is ``GET`` plus ``TTL`` per subject, one round trip each. Redis errors fall
    back to an in-process :class:`MemoryLimiter` for :data:`RETRY_REDIS_AFTER_SECONDS`,
    so a Redis that hangs costs one socket timeout per half-minute, not one per request.
    """

    def __init__(
        self,
        url: str,
        max_failures: int,
        window_seconds: float,
        *,
        key_prefix: str = "leadscore:",
        socket_timeout: float = 0.5,
    ) -> None:
        import redis

        self.namespace = f"{key_prefix}authfail:"
        self.max_failures = max_failures
        self.window = max(1, math.ceil(window_seconds))
        self._client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._fallback = MemoryLimiter(max_failures, window_seconds)
        self._warned_at = -math.inf
        self._down_until = -math.inf  # after an error, Redis is left alone for a while

    def _key(self, subject: str) -> str:
        return self.namespace + subject

    def _redis_down(self) -> bool:
        """Whether Redis failed recently: then each call would wait its socket timeout."""
        return time.monotonic() < self._down_until

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._down_until = now + RETRY_REDIS_AFTER_SECONDS
        if now - self._warned_at > 60:
            self._warned_at = now
            log.warning(
                "Redis does not answer (%s); counting failed authentications in this process",
                exc.__class__.__name__,
            )

    def locked(self, subjects: Sequence[str]) -> int | None:
        if self._redis_down():
            return self._fallback.locked(subjects)
        pipe = self._client.pipeline(transaction=False)
        for subject in subjects:
            pipe.get(self._key(subject))
            pipe.ttl(self._key(subject))
        try:
            answers = pipe.execute()
        except self._errors as exc:
            self._warn(exc)
            return self._fallback.locked(subjects)
        wait = 0
        for count, ttl in zip(answers[::2], answers[1::2], strict=True):
            if count is not None and int(count) >= self.max_failures and ttl > 0:
                wait = max(wait, int(ttl))
        return wait or None

    def fail(self, subjects: Sequence[str]) -> None:
        if self._redis_down():
            self._fallback.fail(subjects)
            return
        pipe = self._client.pipeline(transaction=False)
        for subject in subjects:
            pipe.incr(self._key(subject))
            pipe.expire(self._key(subject), self.window, nx=True)
        try:
            pipe.execute()
        except self._errors as exc:
            self._warn(exc)
            self._fallback.fail(subjects)

    def close(self) -> None:
        self._client.close()


def make_limiter(settings: Settings) -> FailureLimiter:
    """The limiter the settings ask for (Redis is not connected to until first used)."""
    if settings.redis_url:
        return RedisLimiter(
            settings.redis_url,
            settings.auth_max_failures,
            settings.auth_failure_window_seconds,
            key_prefix=settings.redis_key_prefix,
        )
    return MemoryLimiter(settings.auth_max_failures, settings.auth_failure_window_seconds)
