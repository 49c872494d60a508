"""Closed vocabularies: the ordered bands a request must use, checked before scoring.

An ordered field (``company_size``, ``revenue_band``, ``seniority``) is a rank to the
model: a value outside its bands has no rank and used to be scored as *unknown*, so
``company_size: "big"`` quietly disqualified a lead with a 200. Such a value is a typo,
not a new fact about the market, so it is refused with a 422 that names the field and
lists the bands. Open fields (``industry``, ``channel``, ``country``...) are different:
a new industry is real, so it is scored as a rare value and named in the answer's
``unseen_categories``.

Two sources of bands, both what the served model knows:

* the data contract's three ordered fields: their bands are fixed by the contract for
  every model (the CRM importer maps a CRM's values onto them and refuses a mapping
  that reorders them), so they are pydantic types here and ``enum`` in the OpenAPI
  schema;
* a flat-export model's own ordered features (a mapping's ``type: ordinal`` column with
  its ``order``), sent under ``attributes``: their levels differ per model, so
  :func:`attribute_band_errors` checks them against the served model's feature spec.

Missing or ``null`` stays allowed: it means *unknown*, which the model was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import GetPydanticSchema, WithJsonSchema
from pydantic_core import core_schema

from scoring.contract import LEAD_ORDINAL_FEATURES
from scoring.features import FeatureSpec


def band_message(values: Sequence[str]) -> str:
    """The 422 message for a value outside ``values`` (never the value itself)."""
    return f"must be one of: {', '.join(values)} (or null if unknown)"


def band_description(field: str) -> str:
    """What the OpenAPI document says of a contract band field: its bands, in order."""
    return (
        f"The {field} band, in order: {', '.join(LEAD_ORDINAL_FEATURES[field])}. Another "
        "value is refused (422 listing these); null or absent means unknown."
    )


def band_type(field: str, values: Sequence[str]) -> Any:
    """A string type that admits exactly ``values`` (surrounding spaces stripped).

    Checked by pydantic-core (no Python per value: a batch of 1,000 leads does not
    notice); any other value, or a non-string, fails with :func:`band_message`.
    """
    allowed = list(values)

    def schema(_type: Any, _handler: Any) -> core_schema.CoreSchema:
        return core_schema.union_schema(
            [
                core_schema.chain_schema(
                    [
                        core_schema.str_schema(strict=True, strip_whitespace=True),
                        core_schema.literal_schema(allowed),
                    ]
                )
            ],
            custom_error_type="band",
            custom_error_message=band_message(allowed),
        )

    return Annotated[
        str,
        GetPydanticSchema(schema),
        WithJsonSchema({"type": "string", "enum": allowed}),
    ]


CompanySize = band_type("company_size", LEAD_ORDINAL_FEATURES["company_size"])
RevenueBand = band_type("revenue_band", LEAD_ORDINAL_FEATURES["revenue_band"])
Seniority = band_type("seniority", LEAD_ORDINAL_FEATURES["seniority"])


def attribute_band_errors(
    spec: FeatureSpec, attributes: Sequence[Mapping[str, Any]], loc: Sequence[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """Errors for ordered ``attributes`` of a flat-export model outside their levels.

    ``attributes[i]`` is lead ``i``'s attributes and ``loc[i]`` its location in the body
    (``()`` for one lead, ``("leads", i)`` in a batch). Errors are shaped like pydantic's
    (``loc``, ``msg``, ``type``) for :func:`serving.schemas.error_items`. Only the
    model's own ordinal features are checked: the contract's are typed fields.
    """
    own = {name: order for name, order in spec.ordinal.items() if name not in LEAD_ORDINAL_FEATURES}
    if not own:
        return []
    errors = []
    for attrs, where in zip(attributes, loc, strict=True):
        for name, order in own.items():
            value = attrs.get(name)
            if value is not None and (not isinstance(value, str) or value not in order):
                errors.append(
                    {
                        "type": "band",
                        "loc": (*where, "attributes", name),
                        "msg": band_message(order),
                    }
                )
    return errors
