"""A stand-in for amoCRM and Bitrix24, run as its own process on 127.0.0.1 for the tests.

No public CRM is reachable from CI, so this server answers as the documented APIs do
(the pages are cited in docs/crm-write-back.md) and checks every request against the
documented shapes before it answers: method, path, authentication, JSON body structure
and value types. A request that breaks a rule is answered with the CRM's own error
(amoCRM: 400 ``validation-errors`` or 401; Bitrix24: ``{"error", "error_description"}``)
and the broken rule is recorded, so a test can assert both what the client did with
the answer and that a good client broke no rule.

Limits are enforced as the CRMs describe them: amoCRM answers 429 past
``max_per_second`` requests in the last second; Bitrix24 keeps a leaky bucket (+1 per
request, drained ``drain`` a second) and answers 503 ``QUERY_LIMIT_EXCEEDED`` once it
holds more than ``bucket_size``.

Control (not part of either API): ``POST /_control/reset`` with the accounts
(tokens, webhooks, fields and their types, leads); ``POST /_control/script`` to force the
next answers (``{"amocrm": [{"status": 429, "headers": {...}}], ...}``);
``GET /_control/log`` (each request: crm, method, path, arrival time, status, broken
rules, body) and ``GET /_control/leads`` (the field values written).

Run: ``python tests/crm_standin.py`` prints ``PORT <n>`` once it listens.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AMO_LEAD = re.compile(r"^/api/v4/leads/(\d+)$")
AMO_LEADS = "/api/v4/leads"
BX_METHOD = re.compile(r"^/rest/(\d+)/([^/]+)/crm\.lead\.update(\.json)?$")
AMO_LEAD_KEYS = {
    "id",
    "name",
    "price",
    "status_id",
    "pipeline_id",
    "created_by",
    "updated_by",
    "closed_at",
    "created_at",
    "updated_at",
    "loss_reason_id",
    "responsible_user_id",
    "custom_fields_values",
    "tags_to_add",
    "tags_to_delete",
    "_embedded",
    "request_id",
}
"""The body parameters of Kommo's (amoCRM's) "Update a lead" reference, and ``id`` for the
batch form."""
AMO_TEXT_MAX = 256
"""The stand-in's own cap on a one-line "text" field (an assumption, not a cited limit)."""


class State:
    """Accounts, forced answers, the request log and the written values (one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset({})

    def reset(self, config: dict[str, Any]) -> None:
        amo = config.get("amocrm", {})
        bx = config.get("bitrix24", {})
        self.amo_tokens = set(amo.get("tokens", []))
        self.amo_fields = {int(k): v for k, v in amo.get("fields", {}).items()}
        self.amo_leads: dict[int, dict[int, Any]] = {int(i): {} for i in amo.get("leads", [])}
        self.amo_max = int(amo.get("max_per_second", 7))
        self.bx_hooks = {(str(u), str(c)) for u, c in bx.get("webhooks", [])}
        self.bx_fields = dict(bx.get("fields", {}))
        self.bx_leads: dict[int, dict[str, Any]] = {int(i): {} for i in bx.get("leads", [])}
        self.bx_size = float(bx.get("bucket_size", 50))
        self.bx_drain = float(bx.get("drain", 2))
        self.bx_level = 0.0
        self.bx_at = time.monotonic()
        self.script: dict[str, list[dict[str, Any]]] = {"amocrm": [], "bitrix24": []}
        self.log: list[dict[str, Any]] = []
        self.amo_arrivals: list[float] = []


STATE = State()


def _number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value) is not None


def amo_rules(body: Any, lead_id: int | None) -> list[tuple[str, str]]:
    """Broken rules of one amoCRM lead update as (code, path), amoCRM's own vocabulary."""
    if not isinstance(body, dict):
        return [("InvalidType", "")]
    broken: list[tuple[str, str]] = []
    for key in body:
        if key not in AMO_LEAD_KEYS:
            broken.append(("UnknownField", key))
    if lead_id is None and not isinstance(body.get("id"), int):
        broken.append(("NotBlank", "id"))
    values = body.get("custom_fields_values")
    if values is None:
        return broken
    if not isinstance(values, list):
        return [*broken, ("InvalidType", "custom_fields_values")]
    for n, item in enumerate(values):
        path = f"custom_fields_values.{n}"
        if not isinstance(item, dict) or set(item) - {"field_id", "field_code", "values"}:
            broken.append(("InvalidType", path))
            continue
        field_id = item.get("field_id")
        if isinstance(field_id, bool) or not isinstance(field_id, int):
            broken.append(("InvalidType", f"{path}.field_id"))
            continue
        if field_id not in STATE.amo_fields:
            broken.append(("NotSupportedChoice", f"{path}.field_id"))
            continue
        entries = item.get("values")
        if not isinstance(entries, list) or not entries:
            broken.append(("NotBlank", f"{path}.values"))
            continue
        for m, entry in enumerate(entries):
            where = f"{path}.values.{m}.value"
            if not isinstance(entry, dict) or "value" not in entry:
                broken.append(("NotBlank", where))
                continue
            value, kind = entry["value"], STATE.amo_fields[field_id]
            if kind == "numeric" and not _number(value):
                broken.append(("InvalidType", where))
            if kind in ("text", "textarea") and not isinstance(value, str):
                broken.append(("InvalidType", where))
            if kind == "text" and isinstance(value, str) and len(value) > AMO_TEXT_MAX:
                broken.append(("LengthExceeded", where))
    return broken


def bx_rules(body: Any) -> tuple[list[str], list[str]]:
    """Broken rules of a ``crm.lead.update`` call, and the field names Bitrix24 would ignore."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"], []
    broken: list[str] = []
    ignored: list[str] = []
    for key in body:
        if key not in ("id", "fields", "params"):
            broken.append(f"unknown parameter {key}")
    lead = body.get("id")
    if isinstance(lead, bool) or not (
        (isinstance(lead, int) and lead > 0) or (isinstance(lead, str) and lead.isdigit())
    ):
        broken.append("ID is not defined or invalid.")
    fields = body.get("fields")
    if not isinstance(fields, dict):
        broken.append("fields is not an object")
        fields = {}
    for name, value in fields.items():
        kind = STATE.bx_fields.get(name)
        if kind is None:
            ignored.append(name)
        elif kind == "double" and not _number(value):
            broken.append(f"{name} is not a number")
        elif kind == "string" and not isinstance(value, str):
            broken.append(f"{name} is not a string")
    params = body.get("params", {})
    if not isinstance(params, dict) or set(params) - {"REGISTER_SONET_EVENT"}:
        broken.append("params may hold REGISTER_SONET_EVENT only")
    elif params.get("REGISTER_SONET_EVENT", "Y") not in ("Y", "N"):
        broken.append("REGISTER_SONET_EVENT must be Y or N")
    return broken, ignored


class Handler(BaseHTTPRequestHandler):
    """Routes the two APIs and the control endpoints."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        ctype = "application/json"
        if self.path.startswith("/api/v4"):
            ctype = "application/hal+json" if status < 400 else "application/problem+json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> tuple[Any, bool]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw), True
        except ValueError:
            return None, False

    def do_GET(self) -> None:
        with STATE.lock:
            if self.path == "/_control/log":
                return self._send(200, STATE.log)
            if self.path == "/_control/leads":
                amo = {
                    str(k): {str(f): v for f, v in d.items()} for k, d in STATE.amo_leads.items()
                }
                bx = {str(k): d for k, d in STATE.bx_leads.items()}
                return self._send(200, {"amocrm": amo, "bitrix24": bx})
        self._send(405, {"title": "Method Not Allowed", "status": 405})

    def do_POST(self) -> None:
        arrived = time.monotonic()
        body, parsed = self._body()
        with STATE.lock:
            if self.path == "/_control/reset":
                STATE.reset(body or {})
                return self._send(200, {"ok": True})
            if self.path == "/_control/script":
                for crm, answers in (body or {}).items():
                    STATE.script[crm].extend(answers)
                return self._send(200, {"ok": True})
            match = BX_METHOD.match(self.path)
            if match:
                return self._bitrix(match, body, parsed, arrived)
            if self.path.startswith("/api/v4"):
                return self._amo(None, body, parsed, arrived, method="POST")
        self._send(
            404, {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
        )

    def do_PATCH(self) -> None:
        arrived = time.monotonic()
        body, parsed = self._body()
        with STATE.lock:
            match = AMO_LEAD.match(self.path)
            if match or self.path == AMO_LEADS:
                return self._amo(int(match.group(1)) if match else None, body, parsed, arrived)
        self._send(404, {"title": "Not Found", "status": 404})

    def _record(self, crm: str, arrived: float, status: int, broken: list[Any], body: Any) -> None:
        STATE.log.append(
            {
                "crm": crm,
                "method": self.command,
                "path": self.path,
                "t": arrived,
                "status": status,
                "broken": broken,
                "body": body,
                "authorization": self.headers.get("Authorization"),
            }
        )

    def _scripted(self, crm: str, arrived: float, body: Any) -> bool:
        if not STATE.script[crm]:
            return False
        answer = STATE.script[crm].pop(0)
        status = int(answer["status"])
        self._record(crm, arrived, status, [], body)
        self._send(status, answer.get("body", {}), answer.get("headers"))
        return True

    def _amo(
        self, lead_id: int | None, body: Any, parsed: bool, arrived: float, method: str = "PATCH"
    ) -> None:
        STATE.amo_arrivals = [t for t in STATE.amo_arrivals if t > arrived - 1.0]
        STATE.amo_arrivals.append(arrived)
        if len(STATE.amo_arrivals) > STATE.amo_max:
            self._record("amocrm", arrived, 429, ["over the rate limit"], body)
            return self._send(429, {"title": "Too Many Requests", "status": 429})
        if self._scripted("amocrm", arrived, body):
            return None
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in STATE.amo_tokens:
            self._record("amocrm", arrived, 401, ["no valid Bearer token"], body)
            return self._send(
                401,
                {
                    "title": "Unauthorized",
                    "type": "https://httpstatus.es/401",
                    "status": 401,
                    "detail": "Unauthorized",
                },
            )
        broken: list[Any] = []
        if method != "PATCH":
            broken.append(("MethodNotAllowed", method))
        if (
            not (self.headers.get("Content-Type") or "").startswith("application/json")
            or not parsed
        ):
            broken.append(("InvalidContentType", ""))
        items = body if lead_id is None and isinstance(body, list) else [body]
        for n, item in enumerate(items):
            broken += [
                (c, f"{n}.{p}" if lead_id is None else p) for c, p in amo_rules(item, lead_id)
            ]
        if broken:
            self._record("amocrm", arrived, 400, broken, body)
            errors = [
                {"code": c, "path": p, "detail": "This value is not valid."} for c, p in broken
            ]
            return self._send(
                400,
                {
                    "validation-errors": [{"request_id": "0", "errors": errors}],
                    "title": "Bad Request",
                    "type": "https://httpstatus.es/400",
                    "status": 400,
                    "detail": "Request validation failed",
                },
            )
        ids = [lead_id] if lead_id is not None else [item["id"] for item in items]
        if any(i not in STATE.amo_leads for i in ids):
            self._record("amocrm", arrived, 404, [], body)
            return self._send(404, {"title": "Not Found", "status": 404})
        for i, item in zip(ids, items, strict=True):
            for cf in item.get("custom_fields_values") or []:
                STATE.amo_leads[i][cf["field_id"]] = cf["values"][0]["value"]
        self._record("amocrm", arrived, 200, [], body)
        done = [
            {
                "id": i,
                "updated_at": int(time.time()),
                "_links": {"self": {"href": f"/api/v4/leads/{i}"}},
            }
            for i in ids
        ]
        return self._send(200, done[0] if lead_id is not None else {"_embedded": {"leads": done}})

    def _bitrix(self, match: re.Match[str], body: Any, parsed: bool, arrived: float) -> None:
        STATE.bx_level = max(0.0, STATE.bx_level - (arrived - STATE.bx_at) * STATE.bx_drain)
        STATE.bx_at = arrived
        STATE.bx_level += 1
        if STATE.bx_level > STATE.bx_size:
            self._record("bitrix24", arrived, 503, ["bucket overflowed"], body)
            return self._send(
                503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
            )
        if self._scripted("bitrix24", arrived, body):
            return None
        if (match.group(1), match.group(2)) not in STATE.bx_hooks:
            self._record("bitrix24", arrived, 401, ["unknown webhook"], body)
            return self._send(
                401,
                {
                    "error": "INVALID_CREDENTIALS",
                    "error_description": "Invalid request credentials",
                },
            )
        broken, ignored = bx_rules(body) if parsed else (["body is not JSON"], [])
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            broken.append("Content-Type is not application/json")
        if broken:
            self._record("bitrix24", arrived, 400, broken, body)
            return self._send(400, {"error": "", "error_description": broken[0]})
        lead = int(body["id"])
        if lead not in STATE.bx_leads:
            self._record("bitrix24", arrived, 400, [], body)
            return self._send(400, {"error": "", "error_description": "Not found"})
        for name, value in body["fields"].items():
            if name not in ignored:
                STATE.bx_leads[lead][name] = value
        self._record("bitrix24", arrived, 200, [f"ignored {n}" for n in ignored], body)
        return self._send(
            200, {"result": True, "time": {"start": arrived, "finish": time.monotonic()}}
        )


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
