"""The test folders say what their tests need (README, "Tests").

``pyproject.toml`` collects only ``tests/unit``, ``tests/integration`` and
``tests/browser``: a module left directly in ``tests/`` or in another folder would never
run, silently. And ``make test-unit`` is the quick loop only while nothing in
``tests/unit`` asks for a database, the model registry or the app; those fixtures come
from ``tests/conftest.py`` and ``tests/model_fixtures.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FOLDERS = {"unit", "integration", "browser"}
# conftest.py / model_fixtures.py fixtures that open a database, an MLflow registry or the app.
SERVICE_FIXTURES = {"db_url", "postgres_url", "postgres_server", "engine", "store"}
SERVICE_FIXTURES |= {"registry", "make_client"}


def test_every_test_module_sits_in_a_collected_folder() -> None:
    modules = sorted(TESTS.rglob("test_*.py"))
    assert modules, f"no test modules under {TESTS}"
    outside = [
        str(m.relative_to(TESTS)) for m in modules if m.relative_to(TESTS).parts[0] not in FOLDERS
    ]
    assert not outside, f"not collected (move them to tests/unit|integration|browser): {outside}"


def _requested_fixtures(module: Path) -> set[str]:
    """The argument names of every function in ``module`` (tests and fixtures alike)."""
    tree = ast.parse(module.read_text(), filename=str(module))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names |= {arg.arg for arg in node.args.args + node.args.kwonlyargs}
    return names


def test_unit_tests_ask_for_no_database_registry_or_app() -> None:
    offenders = {
        module.name: sorted(_requested_fixtures(module) & SERVICE_FIXTURES)
        for module in sorted((TESTS / "unit").glob("test_*.py"))
    }
    offenders = {name: found for name, found in offenders.items() if found}
    assert not offenders, f"move these to tests/integration: {offenders}"


MAX_LINES = 500
"""A module longer than this is doing more than one thing: split it by topic (issue 12)."""


def test_no_python_module_is_over_500_lines() -> None:
    root = TESTS.parent
    modules = [
        path
        for path in root.rglob("*.py")
        if not any(part.startswith(".") or part == "build" for part in path.relative_to(root).parts)
    ]
    assert len(modules) > 100, f"expected the project's modules under {root}"
    long = {
        str(path.relative_to(root)): n
        for path in modules
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines (split them by topic): {long}"
