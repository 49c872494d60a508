"""Jobs the server starts but does not run itself: the promotion gate.

The server stands on ``scoring/`` only: it loads a model, it never trains one and never
runs the gate (which downloads two models and scores the challenger's test period with
the training stack). ``POST /v1/admin/promote`` therefore runs ``leadscore promote`` in a
child process — the same command an operator or a scheduler runs — reads its decision,
and then reloads from the registry like ``/v1/admin/reload``. A gate that crashes or
hangs takes the child down, not the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from scoring.settings import Settings

COMMAND_MODULE = "cli"
"""The ``leadscore`` command's package, run as ``python -m cli``: a process, not an import,
so the server's floor stays free of training code."""
PROMOTE_TIMEOUT_SECONDS = 900.0
"""How long the gate may take: two downloads and a bootstrap of the test period."""


class JobFailed(RuntimeError):
    """The job exited with an error, timed out, or printed no decision."""


def run_promotion(settings: Settings, actor: str) -> dict[str, Any]:
    """``leadscore promote --json`` with these settings; its decision as a dict.

    The keys are those of ``training.registry.PromotionDecision``: ``promoted``,
    ``reason``, ``challenger``, ``champion_before``, ``champion_after``, ``verdict``, ...
    """
    command = [sys.executable, "-m", COMMAND_MODULE, "promote", "--json", "--actor", actor]
    try:
        proc = subprocess.run(
            command,
            env={**os.environ, **settings.as_environment()},
            capture_output=True,
            text=True,
            timeout=PROMOTE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise JobFailed(
            f"the promotion job timed out after {PROMOTE_TIMEOUT_SECONDS:.0f}s"
        ) from exc
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        problems = (proc.stderr or proc.stdout).strip().splitlines()
        tail = problems[-1][:300] if problems else "no output"
        raise JobFailed(f"the promotion job failed (exit {proc.returncode}): {tail}")
    decision = json.loads(lines[-1])
    if not isinstance(decision, dict) or "promoted" not in decision:
        raise JobFailed("the promotion job printed no decision")
    return decision
