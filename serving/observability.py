"""Prometheus metrics and the ASGI middleware that counts requests and bounds bodies.

The middleware is plain ASGI (no ``BaseHTTPMiddleware``): it sits on the hot path of
every score request and must cost microseconds. It also enforces the body size
limit — from ``Content-Length`` up front and by counting streamed chunks — so an
oversized body is a 413 before any parsing happens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from scoring.lifecycle import Breach

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Metrics:
    """One registry per app, so several apps (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "leadscore_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "leadscore_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.decisions = Counter(
            "leadscore_decisions_total", "Handoff decisions", ["decision"], registry=self.registry
        )
        self.scores = Histogram(
            "leadscore_p_won",
            "Distribution of served P(won)",
            buckets=(0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0),
            registry=self.registry,
        )
        self.unseen = Counter(
            "leadscore_unseen_categories_total",
            "Scored values never seen in training, by field",
            ["field"],
            registry=self.registry,
        )
        self.model_version = Gauge(
            "leadscore_model_version", "Version of the serving model", registry=self.registry
        )
        self.feedback = Counter(
            "leadscore_feedback_total", "Feedback events stored", ["kind"], registry=self.registry
        )
        self.sla_breaches = Counter(
            "leadscore_sla_breaches_total",
            "SLA breaches revealed by stored feedback events, by rule (docs/lifecycle.md)",
            ["rule"],
            registry=self.registry,
        )
        self.decision_log_failed = Counter(
            "leadscore_decision_log_failed_rows_total",
            "Answered decisions the decision log could not store (see /readyz)",
            registry=self.registry,
        )
        self.drift_psi = Gauge(
            "leadscore_drift_psi",
            "Population stability index against the training data, by feature",
            ["feature"],
            registry=self.registry,
        )

    def count_breach(self, breach: Breach) -> None:
        """An SLA breach a stored feedback event revealed (``leadscore_sla_breaches_total``)."""
        self.sla_breaches.labels(breach.rule).inc()


class ObservabilityMiddleware:
    """Count and time requests; refuse bodies over ``max_body_bytes`` with a 413."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _too_large(send, self.max_body_bytes)
            self._observe(scope, 413, start)
            return

        if length is None and scope.get("method") in {"POST", "PUT", "PATCH"}:
            # No Content-Length (chunked): read the body up to the limit, then replay it.
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                more = message.get("more_body", False)
                if size > self.max_body_bytes:
                    await _too_large(send, self.max_body_bytes)
                    self._observe(scope, 413, start)
                    return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                return await receive()

            receive = replay

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, receive, tracking_send)
        self._observe(scope, status["code"], start)

    def _observe(self, scope: Scope, code: int, start: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        self.metrics.requests.labels(scope.get("method", ""), path, str(code)).inc()
        self.metrics.latency.labels(path).observe(time.perf_counter() - start)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
