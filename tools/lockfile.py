"""Keep ``requirements.lock`` honest about ``pyproject.toml``, offline and with the stdlib only.

``make lock`` resolves the lock with uv (every package pinned, with its hashes) and then
runs ``stamp``, which writes on the lock's first line a SHA-256 of what the resolution
was made from: ``requires-python``, the dependencies and the optional dependencies, read
with ``tomllib`` (so comments and formatting in ``pyproject.toml`` do not count).
``make test`` runs ``check`` first: a changed dependency list without a new lock fails
there in one line, before anything is installed, and without a network. The registered
model records the exact versions it was trained with, so a lock that silently drifted
from the declared ranges would make those records lie about what ``make setup`` installs.

Run with the system ``python3`` (before any virtual environment exists).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
STAMP = "# pyproject-sha256: "


def pyproject_digest(pyproject: Path = PYPROJECT) -> str:
    """The SHA-256 of the parts of ``pyproject.toml`` a resolution depends on."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_digest(lock: Path = LOCK) -> str | None:
    """The digest stamped on the lock's first line, or None if it has none."""
    if not lock.exists():
        return None
    with lock.open(encoding="utf-8") as file:
        first = file.readline().rstrip("\n")
    return first.removeprefix(STAMP) if first.startswith(STAMP) else None


def stamp(lock: Path = LOCK, pyproject: Path = PYPROJECT) -> None:
    """Write the current digest on the lock's first line (replacing an older stamp)."""
    lines = lock.read_text(encoding="utf-8").splitlines(keepends=True)
    if lines and lines[0].startswith(STAMP):
        lines = lines[1:]
    lock.write_text(STAMP + pyproject_digest(pyproject) + "\n" + "".join(lines), encoding="utf-8")


def check(lock: Path = LOCK, pyproject: Path = PYPROJECT) -> str | None:
    """None when the lock matches ``pyproject.toml``, else the one-line reason it does not."""
    recorded = recorded_digest(lock)
    if recorded is None:
        return f"{lock.name} is missing or has no '{STAMP.strip()}' line: run `make lock`"
    if recorded != pyproject_digest(pyproject):
        return (
            f"{lock.name} is stale: pyproject.toml's dependencies changed since it was "
            "resolved; run `make lock` and commit both"
        )
    return None


def main(argv: list[str]) -> int:
    """``check`` (exit 1 with one line on stderr if stale) or ``stamp``."""
    if argv == ["stamp"]:
        stamp()
        return 0
    if argv == ["check"]:
        problem = check()
        if problem is not None:
            print(problem, file=sys.stderr)
            return 1
        return 0
    print("usage: python3 tools/lockfile.py check|stamp", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
