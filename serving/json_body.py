"""JSON bodies read only after the caller's key is checked, and refused with a reason.

FastAPI decodes a JSON body *before* it runs the dependencies, the key check among them:
an anonymous caller could make the server parse any body, and learned from a 422 or 400
that it was malformed before being told it had no business here. And a body it cannot
decode (invalid UTF-8, nested 5,000 deep) got a bare ``400 There was an error parsing
the body``.

:class:`CheckedJSONRoute` (the app's route class) gives each request a
:class:`CheckedJSONRequest`, whose ``json()`` never raises: a body it cannot read becomes
an :class:`Unreadable` placeholder. The dependencies run as usual (401/403/429 first);
only then does the body's validation meet the placeholder, and
:func:`unreadable_body_errors` turns that into a 422 naming the problem. Bodies that do
parse cost nothing extra.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["CheckedJSONRequest", "CheckedJSONRoute", "Unreadable", "unreadable_body_errors"]


class Unreadable:
    """Stands in for a JSON body that could not be read; ``problem`` says why (no content)."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem

    def __repr__(self) -> str:  # what pydantic would print: never the body
        return f"<unreadable body: {self.problem}>"


def read_json(body: bytes) -> Any:
    """``body`` parsed as JSON (RFC 8259: UTF-8), or an :class:`Unreadable` saying why."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Unreadable(f"not UTF-8 (byte {exc.start})")
    try:
        return json.loads(text)
    except RecursionError:
        return Unreadable("nested too deeply")
    except json.JSONDecodeError as exc:
        return Unreadable(f"{exc.msg} at line {exc.lineno} column {exc.colno}")


class CheckedJSONRequest(Request):
    """A request whose ``json()`` returns an :class:`Unreadable` instead of raising."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = read_json(await self.body())
        return self._json


class CheckedJSONRoute(APIRoute):
    """The app's route class: handlers see a :class:`CheckedJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            return await handler(CheckedJSONRequest(request.scope, request.receive, request._send))

        return checked


def unreadable_body_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]] | None:
    """If validation failed on an :class:`Unreadable` body, the one error to report, else ``None``.

    Shaped like pydantic's ``json_invalid`` (the type the batch endpoint's parser gives),
    so both read ``body: request body is not valid JSON: <problem>``.
    """
    for error in errors:
        found = error.get("input")
        if isinstance(found, Unreadable):
            return [
                {
                    "type": "json_invalid",
                    "loc": ("body",),
                    "msg": "JSON decode error",
                    "ctx": {"error": found.problem},
                }
            ]
    return None
