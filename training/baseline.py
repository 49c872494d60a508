"""The honest baseline every learned model is measured against: a logistic regression on
the raw features, fitted with no leadscore machinery."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from scoring.features import FeatureSpec


def as_labels(x: pd.DataFrame) -> np.ndarray:
    """``x.astype(str)`` as an object array whose equal cells share one string.

    NumPy's object array of ``x.astype(str)`` holds one Python string per cell: ~0.8 GB
    for a million leads' dozen categorical columns, the training's peak. Here each column
    is stringified by pandas (compact text storage, the same text and missing values),
    and its cells point at one string per distinct value.
    """
    x = pd.DataFrame(x)
    out = np.empty(x.shape, dtype=object)
    for i, name in enumerate(x.columns):
        codes, uniques = pd.factorize(x[name].astype(str), use_na_sentinel=False)
        out[:, i] = np.asarray(uniques, dtype=object)[codes]
    return out


def baseline_model(spec: FeatureSpec) -> Pipeline:
    """Logistic regression on one-hot categories and scaled log-counts: the honest baseline."""
    categorical = [*spec.categorical, *spec.ordinal, *spec.boolean]
    numeric = list(spec.numeric_columns)
    pre = ColumnTransformer(
        [
            (
                "cat",
                make_pipeline(
                    FunctionTransformer(as_labels, feature_names_out="one-to-one"),
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
