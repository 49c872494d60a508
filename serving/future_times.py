"""Times that cannot be true yet: refusing a lead, touch or decision dated after now.

Split from :mod:`serving.schemas` (which defines the bodies): this module walks any of
those bodies, finds its time fields from the annotations, and names every late one.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, get_args, get_origin

from pydantic import BaseModel

from scoring.contract import as_utc
from serving.schemas import Touch


def times_after(body: BaseModel, now: datetime, skew: timedelta) -> list[dict[str, Any]]:
    """Errors for every time in ``body`` later than ``now`` plus the allowed clock skew.

    A time in the future cannot be true: a lead scored "as of" next year, a touch or a
    sales decision that has not happened yet. Stored, it moves retraining's data clock
    ahead and empties its test period. ``now`` is the serving side's clock (the
    request's arrival); ``skew`` (``LEADSCORE_CLOCK_SKEW_SECONDS``) lets a sender whose
    clock runs a little ahead through. Errors are shaped like pydantic's (``loc``,
    ``msg``, ``type``) for :func:`error_items`, which names them ``as_of``,
    ``touches.3.at``, ``leads.2.as_of``, ``at``.

    Every time field is found from the models' annotations (a new one is checked without
    being listed here). A batch of 1,000 leads is checked with C-level ``max`` over each
    field's values in well under a millisecond; only a body that has a late time is
    walked field by field to name them.
    """
    latest, message = time_bound(now, skew)
    naive = latest.replace(tzinfo=None)  # a touch may arrive without a zone (= UTC)
    if not _any_after([body], type(body), latest, naive):
        return []
    errors: list[dict[str, Any]] = []

    def late(at: datetime) -> bool:
        return at > (naive if at.tzinfo is None else latest)

    def visit(model: BaseModel, loc: tuple[str | int, ...]) -> None:
        fields = _time_fields(type(model))
        for name in fields.times:
            value = getattr(model, name)
            if value is not None and late(value):
                errors.append({"type": "time_after_now", "loc": (*loc, name), "msg": message})
        for name in fields.touches:
            for i, touch in enumerate(getattr(model, name)):
                if late(touch["at"]):
                    errors.append(
                        {"type": "time_after_now", "loc": (*loc, name, i, "at"), "msg": message}
                    )
        for name, _ in fields.models:
            for i, item in enumerate(getattr(model, name)):
                visit(item, (*loc, name, i))

    visit(body, ())
    return errors


def time_bound(now: datetime, skew: timedelta) -> tuple[datetime, str]:
    """The latest credible time and the message that refuses a later one.

    Whole seconds (rounded down), so that the message states the bound exactly.
    """
    latest = (as_utc(now) + skew).replace(microsecond=0)
    return latest, (
        f"must not be later than {latest.isoformat().replace('+00:00', 'Z')} "
        f"(now plus {skew.total_seconds():g} s allowed clock skew)"
    )


def _any_after(
    models: Sequence[BaseModel], cls: type[BaseModel], latest: datetime, naive: datetime
) -> bool:
    """Whether any time in ``models`` (all of class ``cls``) is later than ``latest``."""
    fields = _time_fields(cls)
    for name in fields.times:
        if _after(list(filter(None, map(operator.attrgetter(name), models))), latest, naive):
            return True
    for name in fields.touches:
        touches = itertools.chain.from_iterable(map(operator.attrgetter(name), models))
        if _after(list(map(operator.itemgetter("at"), touches)), latest, naive):
            return True
    for name, item_cls in fields.models:
        items = list(itertools.chain.from_iterable(map(operator.attrgetter(name), models)))
        if _any_after(items, item_cls, latest, naive):
            return True
    return False


def _after(times: list[datetime], latest: datetime, naive: datetime) -> bool:
    try:
        top = max(times, default=None)
    except TypeError:  # zoned and zone-less times together: compare each on its own
        return any(t > (naive if t.tzinfo is None else latest) for t in times)
    return top is not None and top > (naive if top.tzinfo is None else latest)


class _TimeFields(NamedTuple):
    times: tuple[str, ...]
    touches: tuple[str, ...]
    models: tuple[tuple[str, type[BaseModel]], ...]
    """Lists of models (a batch's leads) and the models' class."""


@functools.cache
def _time_fields(model: type[BaseModel]) -> _TimeFields:
    """Where ``model`` holds times, read from its annotations (``Instant | None`` …)."""

    def inner(annotation: Any) -> list[Any]:
        return [annotation, *itertools.chain.from_iterable(map(inner, get_args(annotation)))]

    times, touches, models = [], [], []
    for name, info in model.model_fields.items():
        types = inner(info.annotation)
        if datetime in types:
            times.append(name)
        if Touch in types:
            touches.append(name)
        if get_origin(info.annotation) is list:
            models += [(name, t) for t in types if isinstance(t, type) and issubclass(t, BaseModel)]
    return _TimeFields(tuple(times), tuple(touches), tuple(models))
