"""A receiving HTTP server in a thread, and reads of what it got (the webhook tests)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.webhook_receiver import Server, make_handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def receiver(out: Path, secret: str | None = None, status: int = 204) -> Iterator[str]:
    """``tests/webhook_receiver.py`` serving in a thread; yields its URL."""
    server = Server(("127.0.0.1", free_port()), make_handler(str(out), secret, status))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def received(out: Path) -> list[dict[str, Any]]:
    """Every delivery the receiver wrote (duplicates included), in arrival order."""
    if not out.exists():
        return []
    lines = out.read_text(encoding="utf-8").splitlines()
    # a line cut by a kill is not an acknowledged delivery: the sender retries it
    return [json.loads(line) for line in lines if line.endswith("}")]
