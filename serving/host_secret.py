"""A host's secret file: made once with mode 0600, then read by every process and restart.

Page sessions (:mod:`serving.sessions`) and erasure records (:mod:`serving.erasure`) each
need a key that outlives a process. Where no setting provides it, the first process to
need it writes a random one under the home; two processes starting at once must end with
the same key, so the file is created exclusively and a reader waits until it is written.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

MIN_SECRET_CHARS = 32
"""The shortest secret accepted, from a setting or a file (256 bits as hex is 64)."""


def read_or_create_secret(path: Path, what: str) -> bytes:
    """The secret in ``path``, created with 0600 if missing; ``what`` names it in errors."""
    for _ in range(50):
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue  # another process is writing it: read it on the next turn
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            continue
        if len(text) >= MIN_SECRET_CHARS:
            return text.encode()
        time.sleep(0.02)  # created but not written yet
    raise RuntimeError(f"could not read the {what} from {path}")
