"""The floors hold: each package imports only from the floors below it, and importing does no work.

``scoring/`` is the ground floor; ``training/`` and ``serving/`` stand on it side by side
and never import each other; ``cli/`` (the ``leadscore`` command) stands on all three.
The source check reads every import statement, inside functions and ``TYPE_CHECKING``
blocks too: an import deferred into a function is still an arrow between floors. The
runtime check imports every module of a floor in a clean process and looks at what was
loaded and what was written.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("scoring", "training", "serving", "cli")
MAY_IMPORT: dict[str, frozenset[str]] = {
    "scoring": frozenset(),
    "training": frozenset({"scoring"}),
    "serving": frozenset({"scoring"}),
    "cli": frozenset({"scoring", "training", "serving"}),
}
"""Which of the project's packages each one may import (besides itself)."""


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The project packages a module imports, with the line of each import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update((name.split(".")[0], node.lineno) for name in names)
    return {(name, line) for name, line in found if name in PACKAGES}


def test_the_floor_rule_reads_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom scoring.model import LeadScorer\n\n"
        "def f():\n    from training.registry import promote\n    import serving.app\n"
    )
    assert {name for name, _ in imported_packages(module)} == {"scoring", "training", "serving"}


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_floors_below_it(package: str) -> None:
    allowed = MAY_IMPORT[package] | {package}
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name, line in sorted(imported_packages(path))
        if name not in allowed
    ]
    assert not wrong, "\n".join(wrong)


PROBE = """
import importlib, json, pkgutil, sys
loaded = []
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    loaded.append(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        # __main__ runs the command; Alembic's scripts run only under Alembic
        if not info.name.endswith("__main__") and ".migrations" not in info.name:
            importlib.import_module(info.name)
            loaded.append(info.name)
print(json.dumps({
    "imported": loaded,
    "packages": sorted({m.split(".")[0] for m in sys.modules}),
    "mlflow_env": sorted(k for k in __import__("os").environ if k.startswith("MLFLOW_")),
}))
"""


def _import_everything(packages: tuple[str, ...], tmp_path: Path) -> dict[str, list[str]]:
    """Import every module of ``packages`` in a child whose home and folder are empty.

    Matplotlib's font cache is a library's, not our work: it goes outside ``tmp_path``.
    """
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    caches = tmp_path.parent / f"{tmp_path.name}-caches"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSCORE_", "MLFLOW_"))}
    env |= {
        "HOME": str(home),
        "LEADSCORE_HOME": str(home / ".leadscore"),
        "MPLCONFIGDIR": str(caches / "matplotlib"),
        "XDG_CACHE_HOME": str(caches),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *packages],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert written == ["home", "work"], f"importing wrote files: {written}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("floor", "absent"),
    [
        (("scoring",), {"training", "serving", "cli"}),
        (("scoring", "serving"), {"training", "cli"}),
        (("scoring", "training"), {"serving", "cli"}),
    ],
    ids=["scoring", "serving", "training"],
)
def test_importing_a_floor_loads_no_other_and_does_no_work(
    floor: tuple[str, ...], absent: set[str], tmp_path: Path
) -> None:
    """No module loads another floor, writes a file (an MLflow store, a database, a home
    folder) or points MLflow somewhere at import."""
    result = _import_everything(floor, tmp_path)
    assert len(result["imported"]) > len(floor)
    assert not absent & set(result["packages"]), result["packages"]
    assert result["mlflow_env"] == []


def test_importing_the_command_line_does_no_work(tmp_path: Path) -> None:
    result = _import_everything(("cli",), tmp_path)
    assert "cli.app" in result["imported"]
    assert result["mlflow_env"] == []
