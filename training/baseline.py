"""The honest baseline every learned model is measured against: a logistic regression on
the raw features, fitted with no leadscore machinery."""

from __future__ import annotations

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from scoring.features import FeatureSpec


def baseline_model(spec: FeatureSpec) -> Pipeline:
    """Logistic regression on one-hot categories and scaled log-counts: the honest baseline."""
    categorical = [*spec.categorical, *spec.ordinal, *spec.boolean]
    numeric = list(spec.numeric_columns)
    pre = ColumnTransformer(
        [
            (
                "cat",
                make_pipeline(
                    FunctionTransformer(lambda x: x.astype(str), feature_names_out="one-to-one"),
                    OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                ),
                categorical,
            ),
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                    StandardScaler(),
                ),
                numeric,
            ),
        ]
    )
    return Pipeline([("features", pre), ("model", LogisticRegression(C=0.5, max_iter=2000))])
