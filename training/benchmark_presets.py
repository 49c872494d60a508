"""What the benchmark runs on: named feature sets and the public-dataset presets.

A preset is nothing but arguments to :func:`training.benchmark.benchmark_export` — a
file under ``shared/datasets``, its mapping, the feature sets (*variants*) and the
protocols — so the public datasets go through exactly the path any export takes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """A feature set: the mapping's features minus ``drop`` plus sales-side ``add``."""

    key: str
    title: str
    drop: tuple[str, ...] = ()
    add: tuple[tuple[str, str], ...] = ()  # (sales-side file column, feature name)
    leaky: bool = False
    reference: str = ""


ALL_FEATURES = Variant("all_features", "every feature the mapping maps")


@dataclass(frozen=True)
class Dataset:
    """What one benchmark ran on: a file, its mapping, the variants and protocols.

    The public datasets are presets (:data:`DATASETS`); any other export gets one made
    up from its file name (:func:`benchmark_export`).
    """

    key: str
    title: str
    file: str
    mapping: str
    variants: tuple[Variant, ...] = (ALL_FEATURES,)
    note: str = ""
    protocols: tuple[str, ...] = ("auto",)
    preset: bool = False


DATASETS: dict[str, Dataset] = {
    "x-education": Dataset(
        key="x-education",
        title="X Education leads (9,240 leads, 38.5 % converted, no timestamps)",
        file="x_education_leads/Leads.csv",
        mapping="x_education",
        variants=(
            Variant(
                "no_sales_side",
                "without sales-side columns (Tags, Lead Quality, Lead Profile, Asymmetrique*)",
                reference="LR 0.897 / LightGBM 0.905 ROC AUC",
            ),
            Variant(
                "no_last_activity",
                "also without Last Activity / Last Notable Activity (may postdate conversion)",
                drop=("last_activity", "last_notable_activity"),
                reference="LR 0.866 / LightGBM 0.872",
            ),
            Variant(
                "with_tags",
                "LEAKY: plus Tags (written by sales after contact)",
                add=(("Tags", "sales_tags"),),
                leaky=True,
                reference="Tags alone 0.92; all columns LR 0.981 / LightGBM 0.984",
            ),
        ),
        protocols=("cv",),
        preset=True,
    ),
    "olist": Dataset(
        key="olist",
        title="Olist marketing funnel (8,000 MQLs, 10.5 % converted)",
        file="olist_marketing_funnel/olist_marketing_qualified_leads_dataset.csv",
        mapping="olist",
        variants=(
            Variant(
                "mql_columns",
                "MQL columns: origin, landing page, contact month and weekday",
                reference="LR 0.715 / LightGBM 0.697 ROC AUC",
            ),
            Variant(
                "no_contact_month",
                "origin and landing page only (no spurious contact month/weekday)",
                drop=("contact_month", "contact_weekday"),
                reference="LR 0.682 / LightGBM 0.681",
            ),
        ),
        note=(
            "Converted = the MQL appears in the closed-deals file. Every closed-deal column "
            "exists only for converted MQLs (joining any of them gives AUC 1.000), so none is "
            "a feature. Contact month is a collection-window artefact: won_date starts "
            "2017-12-05, so MQLs of Jun-Nov 2017 convert at 0-4 %."
        ),
        protocols=("cv", "time"),
        preset=True,
    ),
}


__all__ = ["ALL_FEATURES", "DATASETS", "Dataset", "Variant"]
