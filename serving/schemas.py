"""Request and response bodies of the scoring API.

Every request model forbids unknown fields (a typo like ``compnay_size`` is a 422 that
names the field, not a silently missing feature), refuses NaN and Infinity, and bounds
every string and list. Personal data fields are accepted — CRMs send them — but never
used, stored or echoed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetPydanticSchema,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import core_schema
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from scoring.contract import (
    HandoffDecision,
    RejectionReason,
    TouchType,
    as_utc,
)
from scoring.explain import NO_RELIABLE_ESTIMATE
from serving.identity import IdentityFields  # display name, company, CRM link (PII)
from serving.schemas_change import WhatWouldChange, counterfactuals_field
from serving.vocabularies import CompanySize, RevenueBand, Seniority, band_description

_BIDI_AND_SEPARATORS = r"\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
ONE_LINE = rf"^[^\x00-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]*$"
"""No control character: C0 (NUL, line breaks, ...), DEL, C1, bidi controls, separators.

They cannot be typed into a category or a name; sent anyway, a NUL breaks PostgreSQL
text and a right-to-left override turns a reason text around where it is shown.
Checked by pydantic-core's regex engine, so a batch of 1,000 leads hardly notices.
"""
MULTILINE = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]*$"
""":data:`ONE_LINE` for free text: tab, line feed and carriage return are allowed."""
CONTROL_MESSAGE = "control characters (NUL, line breaks, bidi controls) are not allowed"
_CONTROL = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=ONE_LINE)
]
LeadId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.:\-]+$"),
]
Attribute = Annotated[float, Field(ge=-1e12, le=1e12)] | bool | Name

MAX_TOUCHES = 5_000

EARLIEST_YEAR, LATEST_YEAR = 1900, 2200


TIME_TEXT = r"^\d{4}-\d{2}-\d{2}([Tt ].*)?$"
"""A time is ISO 8601 text starting with its date: ``2025-03-01T09:30:00Z``, ``2025-03-01``.

Not a number, nor the text of one: pydantic would read ``1700000000`` as seconds since
1970, a guess no CRM field means. A JSON schema says ``type: string`` for a time; the
server holds to it.
"""

TIME_DESCRIPTION = (
    f"ISO 8601 date-time (a date alone means midnight), in the years {EARLIEST_YEAR}-"
    f"{LATEST_YEAR}; without a zone it is UTC. Never later than the request's arrival plus "
    "the allowed clock skew (LEADSCORE_CLOCK_SKEW_SECONDS)."
)

TIME_MESSAGE = (
    f"must be an ISO 8601 date-time such as 2025-03-01T09:30:00Z, "
    f"in the years {EARLIEST_YEAR}-{LATEST_YEAR}"
)


def _time_schema(_type: Any, _handler: Any) -> core_schema.CoreSchema:
    """A ``datetime`` from Python callers (the pages), else ISO text; bounded years."""
    bounded = core_schema.datetime_schema(
        ge=datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC),
        lt=datetime(LATEST_YEAR + 1, 1, 1, tzinfo=UTC),
    )
    return core_schema.union_schema(
        [
            core_schema.chain_schema([core_schema.is_instance_schema(datetime), bounded]),
            core_schema.chain_schema(
                [core_schema.str_schema(strict=True, pattern=TIME_TEXT), bounded]
            ),
        ],
        custom_error_type="time_text",
        custom_error_message=TIME_MESSAGE,
    )


BoundedTime = Annotated[
    datetime,
    GetPydanticSchema(_time_schema),
    WithJsonSchema({"type": "string", "format": "date-time", "description": TIME_DESCRIPTION}),
]
"""A time in the years 1900-2200, given as text, checked by pydantic-core without Python.

Other years are typos, and they would not fit the nanosecond timestamps the feature
pipeline computes with. A number (``"at": 1700000000``) is refused rather than read as
a Unix time (issue 11). The chain of two core schemas keeps a batch's thousands of
touch times out of Python.
"""

Instant = Annotated[BoundedTime, AfterValidator(as_utc)]
"""A :data:`BoundedTime` made UTC (:func:`~scoring.contract.as_utc`: no zone means UTC).

The year bounds are static; the other bound, *not after now*, depends on the request's
arrival and the server's settings, so :func:`times_after` checks it once the body has
been parsed (a pydantic type cannot see either).
"""


CATEGORY_NOTE = (
    "Any one-line text up to 100 characters: a value the model never saw in training is "
    "scored as a rare value and named in the answer's `unseen_categories`."
)
"""What the server accepts in a category field (``channel``, ``industry``, ...)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=2_000)


class Touch(TypedDict):
    """One interaction before (or after) the scoring moment; only earlier ones count.

    A typed dict, not a model, and no Python validator: a batch of 1,000 leads carries
    thousands of touches, and validating each as a model took most of the request's
    parsing time. ``at`` may arrive without a zone: :meth:`Lead.record` reads it as UTC.
    ``channel`` and the UTM tags (``utm_source``, ``utm_medium``, ``utm_campaign``, as a
    web-analytics import keeps them) are accepted and never scored: :meth:`Lead.record`
    passes only ``at`` and ``type`` to the features.
    """

    __pydantic_config__ = ConfigDict(  # type: ignore[misc]
        extra="forbid", str_max_length=2_000, use_enum_values=True
    )

    at: BoundedTime
    type: TouchType
    channel: NotRequired[Name | None]
    campaign: NotRequired[Name | None]
    utm_source: NotRequired[Name | None]
    utm_medium: NotRequired[Name | None]
    utm_campaign: NotRequired[Name | None]


class Lead(Strict):
    """A lead in the data contract's fields. See ``docs/data-contract.md``."""

    lead_id: LeadId
    created_at: Instant | None = None
    mql_at: Instant | None = None
    channel: Name | None = Field(default=None, description=CATEGORY_NOTE)
    campaign: Name | None = Field(default=None, description=CATEGORY_NOTE)
    industry: Name | None = Field(default=None, description=CATEGORY_NOTE)
    company_size: CompanySize | None = Field(
        default=None, examples=["201-500"], description=band_description("company_size")
    )
    country: Name | None = Field(default=None, description=CATEGORY_NOTE)
    region: Name | None = Field(default=None, description=CATEGORY_NOTE)
    revenue_band: RevenueBand | None = Field(
        default=None, examples=["10M-50M"], description=band_description("revenue_band")
    )
    job_title: Name | None = None
    seniority: Seniority | None = Field(
        default=None, examples=["director"], description=band_description("seniority")
    )
    department: Name | None = Field(default=None, description=CATEGORY_NOTE)
    consent_email: bool | None = None
    consent_phone: bool | None = None
    name: Annotated[str, StringConstraints(max_length=200, pattern=ONE_LINE)] | None = Field(
        default=None, description="Personal data: accepted, never used, stored or logged."
    )
    email: Annotated[str, StringConstraints(max_length=320, pattern=ONE_LINE)] | None = Field(
        default=None, description="Personal data: accepted, never used, stored or logged."
    )
    phone: Annotated[str, StringConstraints(max_length=64, pattern=ONE_LINE)] | None = Field(
        default=None, description="Personal data: accepted, never used, stored or logged."
    )
    attributes: dict[Name, Attribute] = Field(
        default_factory=dict,
        max_length=200,
        description="Extra fields a flat-export model was trained on (see its mapping).",
    )
    touches: list[Touch] = Field(default_factory=list, max_length=MAX_TOUCHES)

    def record(self) -> dict[str, Any]:
        """The lead as the scorer reads it: contract fields plus attributes, touches as dicts.

        Read from the validated attributes directly: every field is a plain value (no
        nested model), and ``model_dump`` costs ~5 µs a lead that a batch feels.
        """
        data = {k: v for k, v in self.__dict__.items() if k not in _NOT_SCORED}
        data.update(self.attributes)
        # Naive times become UTC; aware ones stay as sent (features count nanoseconds
        # since the epoch, the decision log converts what it keeps): a batch has
        # thousands of touches, and converting each costs more than the rest of this.
        data["touches"] = [
            {
                "at": at if at.tzinfo is not None else at.replace(tzinfo=UTC),
                "type": t["type"],
                # not features: kept for the decision log's timeline (attribution),
                # which credits a touch's campaign, else the UTM campaign it came with
                **({"channel": t["channel"]} if t.get("channel") else {}),
                **({"campaign": campaign} if campaign else {}),
            }
            for t in self.touches
            for at, campaign in ((t["at"], t.get("campaign") or t.get("utm_campaign")),)
        ]
        return data


_NOT_SCORED = frozenset({"attributes", "touches", "name", "email", "phone", "as_of"})
"""Fields of a request that :meth:`Lead.record` leaves out (personal data among them)."""


class ScoreRequest(IdentityFields, Lead):
    """A lead plus the scoring moment (default: now) and how many reasons to return."""

    as_of: Instant | None = Field(
        default=None, description="Score as of this moment; default: the time of the request."
    )


class BatchRequest(Strict):
    leads: list[ScoreRequest] = Field(min_length=1)
    as_of: Instant | None = Field(
        default=None, description="Default scoring moment for leads without their own as_of."
    )
    reasons: StrictBool = Field(
        default=False, description="Reasons cost ~1 ms a lead; off by default. `true` or `false`."
    )
    counterfactuals: StrictBool = counterfactuals_field()


class Reason(BaseModel):
    """One field's effect on the score: a code with the lead's values, and it in words."""

    field: str
    code: str = Field(
        description="What the reason says, ending in `.raises` or `.lowers` (the direction "
        "of its effect); every code is listed in docs/reasons.md, e.g. "
        "`demo_request.requested.raises`."
    )
    params: dict[str, Any] = Field(
        description='The lead\'s own values the reason quotes, e.g. `{"days_ago": 2}`.'
    )
    contribution: float = Field(description="Log-odds contribution (all stages).")
    text: str = Field(description="The reason in the language of `Accept-Language` (en, ru).")


class Reasons(BaseModel):
    positive: list[Reason]
    negative: list[Reason]


class LikelyRejection(BaseModel):
    reason: RejectionReason
    probability: float = Field(description="P(reason | rejected)")
    text: str


class ModelRef(BaseModel):
    name: str
    version: str


class ScoreResponse(BaseModel):
    lead_id: str
    request_id: str
    as_of: Instant
    p_sql: float | None = Field(description="Calibrated P(accepted as SQL | MQL)")
    p_won: float = Field(description="Calibrated P(won | MQL)")
    fit_score: float | None = Field(description="0-100: better ICP fit than this % of past MQLs")
    engagement_score: float | None = Field(
        description="0-100: more engaged than this % of past MQLs"
    )
    decision: HandoffDecision
    threshold: float
    distance_to_threshold: float = Field(description="p_won - threshold")
    likely_rejection: LikelyRejection | None = Field(
        description="For a lead handed to sales: the reason sales would most likely reject "
        "it with; null otherwise, or when the reason model is not reliable (see the note)"
    )
    likely_rejection_note: str | None = Field(
        default=None,
        description=f'"{NO_RELIABLE_ESTIMATE}" for a handed-over lead when the reason model '
        "did not beat naming the most common reason on its validation period; else null",
    )
    reasons: Reasons | None
    unseen_categories: list[str] = Field(
        description="Fields whose value never appeared in training (scored as a rare value)."
    )
    model: ModelRef
    what_would_change: WhatWouldChange | None = None


class BatchResponse(BaseModel):
    request_id: str
    results: list[ScoreResponse]


class FamilyCandidate(BaseModel):
    val_log_loss: float
    val_roc_auc: float
    trees: int | None = None
    l2_c: float | None = None
    bins: int | None = None
    slopes: bool | None = None


class StageFamily(BaseModel):
    chosen: Literal["lightgbm", "logistic"]
    rule: str
    candidates: dict[str, FamilyCandidate]


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str
    loaded_at: datetime
    source: Literal["registry", "local-copy"]
    trained_at: str | None
    metrics: dict[str, float]
    policy: dict[str, Any]
    stages: list[str]
    model_kind: Literal["learned", "prior"] = "learned"
    prior: dict[str, Any] | None = None
    warnings: list[str] = []
    promotion: dict[str, Any] | None = None
    reason_model: dict[str, Any] = Field(
        default_factory=dict,
        description="The rejection-reason model's verdict (`reliable`), the rule it was "
        "judged by, its classes and validation figures; empty for a model without one",
    )
    families: dict[str, StageFamily] = Field(
        default_factory=dict,
        description="Per stage, the model family kept and every candidate's figures on the "
        "validation period; empty for a prior or a model trained before the contest",
    )


class ErrorItem(BaseModel):
    field: str
    message: str
    rule: str | None = Field(
        default=None, description="The lead-lifecycle rule refused (docs/lifecycle.md)."
    )


class ErrorResponse(BaseModel):
    detail: str | list[ErrorItem]


def error_items(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic errors as ``ErrorItem`` dicts: each bad field named, its value never echoed.

    The API's 422 answers and the pages' form errors both use this. Model-level rules
    phrased ``"reason: a rejection needs a reason tag"`` are attributed to their field;
    the request's location prefix (``body``, ``query``...) is left out of the name.
    """
    items = []
    for error in errors:
        message = str(error.get("msg", "invalid value"))
        parts = [  # a field may be a dict key the client chose: never echo control characters
            _CONTROL.sub("?", str(p))
            for p in error.get("loc", ())
            if p not in ("body", "query", "path", "header")
        ]
        field = ".".join(parts) or "body"
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        elif error.get("type") == "string_pattern_mismatch" and (error.get("ctx") or {}).get(
            "pattern"
        ) in (ONE_LINE, MULTILINE):
            message = CONTROL_MESSAGE
        elif error.get("type") == "json_invalid":
            problem = (error.get("ctx") or {}).get("error")  # a position, never the content
            field, message = (
                "body",
                "request body is not valid JSON" + (f": {problem}" if problem else ""),
            )
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
            head, sep, tail = message.partition(":")
            if sep and head.isidentifier():
                field, message = head, tail.strip()
        items.append({"field": field, "message": message})
    return items
