"""A check shared by the report tests and the report API tests."""

from __future__ import annotations

from typing import Any


def _in_unit(value: Any) -> bool:
    return value is None or 0.0 <= value <= 1.0
