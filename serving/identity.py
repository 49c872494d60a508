"""The lead's identity on the sales pages: display name, company and CRM link (issue 13).

A score request may carry them (:class:`IdentityFields`, mixed into ``ScoreRequest``).
They are personal data, so they travel a path of their own: :func:`identity_rows` takes
them out of the request into rows for the ``lead_identities`` table
(:class:`serving.tables.LeadIdentity`), written by the decision log's thread beside, never
inside, the decision rows; :meth:`IdentityFields.record` keeps them out of what the model
reads. The pages show them to sales and admin only; nothing logs them; an erasure
deletes them.

A CRM link is http(s) only (a ``javascript:`` link on a page would run in the
salesperson's session); without one, the server may build it from
``LEADSCORE_CRM_URL_TEMPLATE`` (:func:`crm_link`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from serving.tables import COMPANY_NAME_LEN, CRM_URL_LEN, DISPLAY_NAME_LEN

IDENTITY_FIELDS: tuple[str, ...] = ("display_name", "company_name", "crm_url")
"""The request fields that make a lead's identity, in the table's column names."""

_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$"
"""One line, no bidi controls (as ``serving.schemas.ONE_LINE``, which would be a cycle)."""

URL_MESSAGE = "must be an http:// or https:// URL with a host"


def _http_url(value: str) -> str:
    """``value`` if it is an absolute http(s) URL with a host; the error never quotes it."""
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError(URL_MESSAGE) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError(URL_MESSAGE)
    return value


DisplayName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_LEN, pattern=_NO_CONTROL
    ),
]
CompanyName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=COMPANY_NAME_LEN, pattern=_NO_CONTROL
    ),
]
CrmUrl = Annotated[str, StringConstraints(max_length=CRM_URL_LEN), AfterValidator(_http_url)]


_PERSONAL = "Personal data: stored apart for the sales pages, never logged or used to score."


class IdentityFields(BaseModel):
    """Optional identity of a lead in a score request (see the module's docstring).

    Mixed in before ``Lead`` so that :meth:`record`, which every scoring path calls,
    leaves these fields out of the model's input.
    """

    display_name: DisplayName | None = Field(
        default=None, description=f"How sales calls the lead on the pages. {_PERSONAL}"
    )
    company_name: CompanyName | None = Field(
        default=None, description=f"The lead's company, shown beside the name. {_PERSONAL}"
    )
    crm_url: CrmUrl | None = Field(
        default=None,
        description="The lead's page in the CRM (http or https); without it the server "
        f"uses LEADSCORE_CRM_URL_TEMPLATE, if set. {_PERSONAL}",
    )

    def record(self) -> dict[str, Any]:
        """The lead as the scorer reads it, without the identity fields."""
        data: dict[str, Any] = super().record()  # type: ignore[misc]
        for name in IDENTITY_FIELDS:
            data.pop(name, None)
        return data


def identity_rows(leads: Iterable[Any]) -> list[dict[str, Any]]:
    """A ``lead_identities`` row for each lead that carries any identity field."""
    rows = []
    for lead in leads:
        values = {name: getattr(lead, name, None) for name in IDENTITY_FIELDS}
        if any(v is not None for v in values.values()):
            rows.append({"lead_id": lead.lead_id, **values})
    return rows


def crm_link(lead_id: str, stored: str | None, template: str | None) -> str | None:
    """The lead's CRM link: the one sent with a score, else the template's, else none."""
    if stored:
        return stored
    if template:
        return template.replace("{lead_id}", quote(lead_id, safe=""))
    return None


def shown_identity(
    lead_id: str, row: Mapping[str, Any] | None, template: str | None
) -> dict[str, Any]:
    """What the pages show for a lead: name, company and link (each may be ``None``)."""
    row = row or {}
    return {
        "display_name": row.get("display_name"),
        "company_name": row.get("company_name"),
        "crm_url": crm_link(lead_id, row.get("crm_url"), template),
    }
