"""The cached wording of a reason is the catalog's wording, whatever was worded before.

:func:`scoring.reason_text.render` keeps each text it words, keyed by the code, the
language, the field and the parameters. A key that let two different parameters share
an entry would word a reason with another reason's values; so every generated reason is
worded with parameters that compare equal but read differently (``1``, ``1.0``,
``True``; ``0.0`` and ``-0.0``; ``"1"``) one after the other, each compared with the
uncached wording (:func:`scoring.reason_text._render`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import reason_text
from scoring.reason_text import REASON_LANGUAGES, _render, message_ids, render

CODES = [*sorted(message_ids("en")), "no.such.code"]
PARAMS = ("value", "days_ago", "views", "webinars", "month", "by_email", "by_phone", "touches")
TWINS: list[Any] = [1, 1.0, True, 0, 0.0, -0.0, False, None, "1", 2, 2.0, 12, 12.0]
"""Values equal to one another (and hashing alike) that may read differently."""

scalars = st.one_of(
    st.sampled_from(TWINS),
    st.integers(-3, 400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-50, 50).map(lambda x: round(x, 2)),
    st.text(max_size=12),
    st.text(min_size=201, max_size=210),  # too long to keep
    st.tuples(st.sampled_from([1, 1.0, True])),  # not a plain scalar: never kept
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    code=st.sampled_from(CODES),
    lang=st.sampled_from([*REASON_LANGUAGES, "de"]),
    field=st.sampled_from(["", "industry", "company_size", "some_field"]),
    params=st.dictionaries(st.sampled_from(PARAMS), scalars, max_size=3),
    twin=st.sampled_from(PARAMS),
)
def test_the_cached_wording_is_the_catalogs(
    code: str, lang: str, field: str, params: dict[str, Any], twin: str
) -> None:
    for value in [None, *TWINS]:  # the same reason with each twin value in turn
        variant = {**params, twin: value}
        assert _words(render, code, variant, lang, field) == _words(
            _render, code, variant, lang, field
        )
    for _ in range(2):  # worded, then kept
        assert _words(render, code, params, lang, field) == _words(
            _render, code, params, lang, field
        )


def _words(how: Callable[..., str], *args: Any) -> str:
    """The text, or the error's type: a value the catalog cannot word (an infinite count)
    fails the same way with the cache as without."""
    try:
        return how(*args)
    except Exception as exc:
        return f"raised {type(exc).__name__}"


def test_the_cache_stays_bounded() -> None:
    for days in range(reason_text._RENDERED_MAX + 10):
        render("demo_request.requested.raises", {"days_ago": days}, "en")
    assert 0 < len(reason_text._RENDERED) <= reason_text._RENDERED_MAX
    assert render("demo_request.requested.raises", {"days_ago": 3}, "en") == (
        "requested a demo 3 days ago"
    )
