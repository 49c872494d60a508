"""The private parts of dependencies that leadscore uses, the bounds that guard them, and
the lock's staleness check.

A release that drops a private symbol breaks leadscore without a deprecation warning:
these tests name the symbol that went missing, and the bound in pyproject.toml that
should have kept that release out.
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from starlette.requests import Request

from tools import lockfile

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name: Requirement(r) for r in project["dependencies"]}


@pytest.mark.parametrize(
    ("package", "next_major"),
    [("lightgbm", "5"), ("fastapi", "1"), ("starlette", "2")],
)
def test_packages_whose_private_parts_are_used_have_an_upper_bound(
    package: str, next_major: str
) -> None:
    specifier = _requirements()[package].specifier
    assert Version(next_major) not in specifier, f"{package} needs `<{next_major}` in pyproject"


def test_lightgbm_still_has_the_private_c_api_handle_rowpredict_uses() -> None:
    from lightgbm import basic

    assert callable(getattr(basic, "_safe_call", None)), "lightgbm.basic._safe_call is gone"
    lib = getattr(basic, "_LIB", None)
    assert lib is not None, "lightgbm.basic._LIB is gone"
    for function in (
        "LGBM_BoosterPredictForMatSingleRowFastInit",
        "LGBM_BoosterPredictForMatSingleRowFast",
        "LGBM_FastConfigFree",
    ):
        assert hasattr(lib, function), f"LightGBM's C library has no {function}"
    data = lgb.Dataset(np.array([[0.0], [1.0]]), np.array([0, 1]), params={"verbose": -1})
    booster = lgb.Booster(params={"verbose": -1}, train_set=data)
    assert getattr(booster, "_handle", None), "lightgbm.Booster has no _handle"


@pytest.mark.anyio
def test_starlette_request_keeps_send_and_caches_json_where_json_body_expects() -> None:
    """serving/json_body.py rebuilds a Request from ``request._send`` and sets ``_json``."""

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}

    async def send(message: object) -> None:  # pragma: no cover - never called
        raise AssertionError(message)

    request = Request({"type": "http", "method": "POST", "headers": []}, receive, send)
    assert request._send is send
    assert asyncio.run(request.json()) == {"a": 1}
    assert request._json == {"a": 1}


def test_the_committed_lock_matches_pyproject() -> None:
    assert lockfile.check() is None, lockfile.check()


def test_a_changed_dependency_list_makes_the_lock_stale(tmp_path: Path) -> None:
    pyproject, lock = tmp_path / "pyproject.toml", tmp_path / "requirements.lock"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["numpy>=1"]\n')
    lock.write_text("numpy==2.0.0\n")
    assert "make lock" in (lockfile.check(lock, pyproject) or "")  # no stamp yet
    lockfile.stamp(lock, pyproject)
    assert lockfile.check(lock, pyproject) is None
    assert lock.read_text().endswith("numpy==2.0.0\n")
    # a comment or a reformatting is not a change of dependencies ...
    pyproject.write_text('[project]\nname = "x"\n# pinned\ndependencies = [\n  "numpy>=1",\n]\n')
    assert lockfile.check(lock, pyproject) is None
    # ... a new range is
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["numpy>=2"]\n')
    problem = lockfile.check(lock, pyproject)
    assert problem is not None and "stale" in problem and "\n" not in problem
    lockfile.stamp(lock, pyproject)  # restamping replaces the old line
    assert lockfile.check(lock, pyproject) is None
    assert lock.read_text().count(lockfile.STAMP) == 1
