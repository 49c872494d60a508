"""A webhook receiver for tests, the benchmark and docs/webhooks.md's walk-through.

Run it as a process::

    python tests/webhook_receiver.py --port 9000 --out received.jsonl --secret whsec_...

It checks each request's Standard Webhooks signature with its own few lines of the
standard library (not leadscore's code, so the two check each other), answers 401 to a
bad one, and appends ``{"id", "type", "data", "verified"}`` as one JSON line to
``--out`` — flushed and fsynced before it answers 204, so an event it acknowledged is on
disk. It does not deduplicate: the file shows every delivery, and whoever reads it
deduplicates by ``id`` (``webhook-id``). ``--status 500`` makes it refuse everything.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE = 300


def signature_ok(secret: str, headers: Any, body: bytes) -> bool:
    """The specification's check: HMAC-SHA256 over ``id.timestamp.body``, any v1 matches."""
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    given = headers.get("webhook-signature") or ""
    if not msg_id or not stamp or not stamp.isdigit():
        return False
    if abs(time.time() - int(stamp)) > TOLERANCE:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, part) for part in given.split())


def make_handler(out: str, secret: str | None, status: int) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the sender reuses its connections

        def _answer(self, code: int) -> None:
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            verified = secret is not None and signature_ok(secret, self.headers, body)
            if secret is not None and not verified:
                self._answer(401)
                return
            if status >= 300:
                self._answer(status)
                return
            document = json.loads(body)
            line = {
                "id": self.headers.get("webhook-id"),
                "type": document.get("type"),
                "data": document.get("data"),
                "verified": verified,
            }
            with lock, open(out, "a", encoding="utf-8") as f:
                f.write(json.dumps(line, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._answer(204)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--out", default="received.jsonl")
    parser.add_argument("--secret", default=None, help="whsec_...: refuse unsigned requests")
    parser.add_argument("--status", type=int, default=204, help="answer this to every event")
    args = parser.parse_args(argv)
    server = Server(("127.0.0.1", args.port), make_handler(args.out, args.secret, args.status))
    print(f"listening on http://127.0.0.1:{args.port}/ writing {args.out}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
