"""The honest baseline every learned model is measured against: a logistic regression on
the raw features, fitted with no leadscore machinery."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
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


class _CsrColumns(ColumnTransformer):
    """A :class:`~sklearn.compose.ColumnTransformer` whose sparse output is stacked from
    CSR blocks only.

    scikit-learn stacks a sparse one-hot block and a dense numeric block through COO
    copies of every cell (~0.7 GB transient at a million leads, the training's peak);
    with the dense block made CSR first, scipy stacks the CSR arrays directly. The
    matrix is the same (data, indices and row pointers), and whether the output is
    sparse at all is still decided on the blocks as the transformers returned them.
    """

    def _hstack(self, Xs: list[Any], *, n_samples: int) -> Any:
        if self.sparse_output_:
            Xs = [X if sparse.issparse(X) else sparse.csr_matrix(np.asarray(X)) for X in Xs]
        return super()._hstack(Xs, n_samples=n_samples)


def baseline_model(spec: FeatureSpec) -> Pipeline:
    """Logistic regression on one-hot categories and scaled log-counts: the honest baseline."""
    categorical = [*spec.categorical, *spec.ordinal, *spec.boolean]
    numeric = list(spec.numeric_columns)
    pre = _CsrColumns(
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
