"""Request and response bodies of the scoring API.

Every request model forbids unknown fields (a typo like ``compnay_size`` is a 422 that
names the field, not a silently missing feature), refuses NaN and Infinity, and bounds
every string and list. Personal data fields are accepted — CRMs send them — but never
used, stored or echoed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from scoring.contract import HandoffDecision, RejectionReason, TouchType, as_utc

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
LeadId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.:\-]+$"),
]
Attribute = Annotated[float, Field(ge=-1e12, le=1e12)] | bool | Name

MAX_TOUCHES = 5_000


EARLIEST_YEAR, LATEST_YEAR = 1900, 2200


BoundedTime = Annotated[
    datetime,
    Field(
        ge=datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC), lt=datetime(LATEST_YEAR + 1, 1, 1, tzinfo=UTC)
    ),
]
"""A time in the years 1900-2200, checked by pydantic-core without calling Python.

Other years are typos, and they would not fit the nanosecond timestamps the feature
pipeline computes with.
"""

Instant = Annotated[BoundedTime, AfterValidator(as_utc)]
"""A :data:`BoundedTime` made UTC (:func:`~scoring.contract.as_utc`: no zone means UTC)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=2_000)


class Touch(TypedDict):
    """One interaction before (or after) the scoring moment; only earlier ones count.

    A typed dict, not a model, and no Python validator: a batch of 1,000 leads carries
    thousands of touches, and validating each as a model took most of the request's
    parsing time. ``at`` may arrive without a zone: :meth:`Lead.record` reads it as UTC.
    """

    __pydantic_config__ = ConfigDict(  # type: ignore[misc]
        extra="forbid", str_max_length=2_000, use_enum_values=True
    )

    at: BoundedTime
    type: TouchType
    channel: NotRequired[Name | None]


class Lead(Strict):
    """A lead in the data contract's fields. See ``docs/data-contract.md``."""

    lead_id: LeadId
    created_at: Instant | None = None
    mql_at: Instant | None = None
    channel: Name | None = None
    campaign: Name | None = None
    industry: Name | None = None
    company_size: Name | None = Field(default=None, examples=["201-500"])
    country: Name | None = None
    region: Name | None = None
    revenue_band: Name | None = Field(default=None, examples=["10M-50M"])
    job_title: Name | None = None
    seniority: Name | None = Field(default=None, examples=["director"])
    department: Name | None = None
    consent_email: bool | None = None
    consent_phone: bool | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Personal data: accepted, never used, stored or logged."
    )
    email: Annotated[str, StringConstraints(max_length=320)] | None = Field(
        default=None, description="Personal data: accepted, never used, stored or logged."
    )
    phone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
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
            {"at": at if at.tzinfo is not None else at.replace(tzinfo=UTC), "type": t["type"]}
            for t in self.touches
            for at in (t["at"],)
        ]
        return data


_NOT_SCORED = frozenset({"attributes", "touches", "name", "email", "phone", "as_of"})
"""Fields of a request that :meth:`Lead.record` leaves out (personal data among them)."""


class ScoreRequest(Lead):
    """A lead plus the scoring moment (default: now) and how many reasons to return."""

    as_of: Instant | None = Field(
        default=None, description="Score as of this moment; default: the time of the request."
    )


class BatchRequest(Strict):
    leads: list[ScoreRequest] = Field(min_length=1)
    as_of: Instant | None = Field(
        default=None, description="Default scoring moment for leads without their own as_of."
    )
    reasons: bool = Field(default=False, description="Reasons cost ~1 ms a lead; off by default.")


class Reason(BaseModel):
    field: str
    contribution: float = Field(description="Log-odds contribution (all stages).")
    text: str


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
    likely_rejection: LikelyRejection | None
    reasons: Reasons | None
    unseen_categories: list[str] = Field(
        description="Fields whose value never appeared in training (scored as a rare value)."
    )
    model: ModelRef


class BatchResponse(BaseModel):
    request_id: str
    results: list[ScoreResponse]


FeedbackKind = Literal["accepted", "rejected", "returned_to_nurture", "won", "lost", "disagree"]


class FeedbackRequest(Strict):
    """A sales decision or a deal outcome, from the CRM or the lead page."""

    lead_id: LeadId
    kind: FeedbackKind
    reason: RejectionReason | None = Field(default=None, description="Mandatory when rejected.")
    at: Instant
    contact_attempts: int | None = Field(default=None, ge=0, le=1_000)
    first_response_hours: float | None = Field(default=None, ge=0, le=24 * 365)
    amount: float | None = Field(default=None, ge=0, le=1e10)
    comment: Annotated[str, StringConstraints(max_length=2_000)] | None = None

    @model_validator(mode="after")
    def _reason_rules(self) -> FeedbackRequest:
        if self.kind == "rejected" and self.reason is None:
            raise ValueError("reason: a rejection needs a reason tag")
        if self.kind != "rejected" and self.reason is not None:
            raise ValueError("reason: only a rejection carries a reason tag")
        return self


class FeedbackResponse(BaseModel):
    id: str
    lead_id: str
    kind: str
    received_at: datetime
    decision_id: str | None


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


class ErrorItem(BaseModel):
    field: str
    message: str


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
        parts = [
            str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")
        ]
        field = ".".join(parts) or "body"
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        elif error.get("type") == "json_invalid":
            field, message = "body", "request body is not valid JSON"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
            head, sep, tail = message.partition(":")
            if sep and head.isidentifier():
                field, message = head, tail.strip()
        items.append({"field": field, "message": message})
    return items
