"""``tools/screenshots.py`` (``make screenshots``) reads what the demo prints and sends
requests the API accepts: checked here without a server or a browser."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cli.demo_leads import sign_in_lines
from serving.schemas import ScoreRequest
from tools.screenshots import VERSIONS, keys_from_output, lead_version


def test_the_keys_are_read_from_the_demos_sign_in_lines() -> None:
    keys = {"sales": "lsk_sales-1", "marketing": "lsk_mkt_2", "admin": "lsk_admin3"}
    printed = "\n".join(
        [
            "API keys (shown once; stored hashed):",
            "  scorer: lsk_scorer_0   (for the API: /v1/score)",
            "",
            "Sign in to the pages (open the link, paste the key):",
            *sign_in_lines("http://127.0.0.1:8765", keys),
        ]
    )
    assert keys_from_output(printed) == {
        "scorer": "lsk_scorer_0",
        "sales": "lsk_sales-1",
        "marketing": "lsk_mkt_2",
    }


def test_a_missing_key_stops_the_script_naming_the_role() -> None:
    printed = "\n".join(sign_in_lines("http://127.0.0.1:8765", {"sales": "lsk_s"}))
    with pytest.raises(SystemExit, match="scorer, marketing"):
        keys_from_output(printed)


def test_each_version_of_the_lead_is_a_valid_request_with_one_more_touch() -> None:
    now = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    versions = [ScoreRequest.model_validate(lead_version(n, now)) for n in range(VERSIONS)]
    assert [len(v.touches) for v in versions] == list(range(1, VERSIONS + 1))
    assert all(v.as_of == now and all(t["at"] < now for t in v.touches) for v in versions)
    assert versions[-1].touches[-1]["type"] == "demo_request"
    assert {v.display_name for v in versions} == {"Lena Hoffmann"}
