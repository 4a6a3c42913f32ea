"""Feature preprocessing as scikit-learn transformers, fitted on training patients only.

Everything learned from data (which columns survive the missingness and variance filters, the
imputation medians and modes, the one-hot categories, the z-score means and SDs) lives inside the
returned pipeline, so fitting it inside a cross-validation fold cannot leak held-out patients.

Order (seed 001, "Data Preprocessing and Feature Selection"): drop features with more than
``max_missing_fraction`` missing -> median imputation (mode + one-hot for categoricals) ->
low-variance filter -> z-score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted


def _as_frame(X) -> pd.DataFrame:
    return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)


class ColumnSelector(TransformerMixin, BaseEstimator):
    """A filter that keeps the training columns ``columns_`` chosen by its ``fit``.

    Base of the preprocessing filters here and of the feature selectors of
    :mod:`hccfusion.selection`: subclasses set ``columns_`` (and ``feature_names_in_``) in ``fit``.
    """

    def transform(self, X):
        check_is_fitted(self, "columns_")
        return _as_frame(X)[self.columns_]

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)


class MissingnessFilter(ColumnSelector):
    """Drop columns whose training-set missing fraction exceeds ``max_missing_fraction``."""

    def __init__(self, max_missing_fraction: float = 0.3):
        self.max_missing_fraction = max_missing_fraction

    def fit(self, X, y=None):
        X = _as_frame(X)
        frac = X.isna().mean(axis=0)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.missing_fraction_ = frac
        keep = frac <= self.max_missing_fraction
        self.columns_ = list(X.columns[keep.to_numpy()])
        self.dropped_ = list(X.columns[~keep.to_numpy()])
        return self


class VarianceFilter(ColumnSelector):
    """Drop features whose training-set variance is not above ``threshold``.

    Seed 001 writes "Features were standardized using z-score normalization. For classification,
    radiomics features with low variance (<0.01) were removed". Taken literally the filter is a
    no-op: every z-scored feature has variance exactly 1. We therefore filter *before* z-scoring.
    ``scale="raw"`` (default) compares the variance in the feature's own units, which is what a
    variance threshold conventionally means and keeps the paper's 0.1 survival threshold usable
    (it removes quasi-constant features and small-range ones such as some [0, 1] shape ratios).
    ``scale="minmax"`` compares the variance after min-max scaling to [0, 1] on the training
    set, which is unit-free but much stricter (an untransformed normal feature of n = 100 has a
    min-max variance of about 0.04, so 0.1 would remove nearly everything).
    """

    def __init__(self, threshold: float = 0.0, scale: str = "raw"):
        self.threshold = threshold
        self.scale = scale

    def fit(self, X, y=None):
        if self.scale not in ("raw", "minmax"):
            raise ValueError(f"VarianceFilter.scale must be 'raw' or 'minmax', got {self.scale!r}")
        X = _as_frame(X)
        values = X.to_numpy(dtype=float)
        if self.scale == "minmax":
            lo = np.nanmin(values, axis=0)
            span = np.nanmax(values, axis=0) - lo
            span[span == 0] = 1.0
            values = (values - lo) / span
        self.variances_ = np.nanvar(values, axis=0)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        keep = self.variances_ > self.threshold
        if not keep.any():
            raise ValueError(
                f"no feature has a training variance above {self.threshold} "
                f"({self.scale} scale, {X.shape[1]} features)"
            )
        self.columns_ = list(X.columns[keep])
        return self


def variance_threshold(prep_cfg: Mapping, kind: str, block: str = "radiomics") -> float:
    """Configured variance threshold for an endpoint type (``binary`` or ``survival``).

    Only imaging blocks are filtered (seed 001 describes the filter for radiomics features); the
    clinical block loses constant columns only. Clinical variables come in heterogeneous units and
    some of the strongest are small numbers (a 1-month monocyte change of ~0.05 x 10^9/L has a
    raw variance far below 0.1), so a raw-scale threshold would discard them for no reason. The
    deep-learning block (a few network outputs on a log-hazard or logit scale) is treated the same
    way: the filter is a radiomics noise screen, not a rule for model scores.
    """
    if block in ("clinical", "deep"):
        return 0.0
    key = "variance_threshold_binary" if kind == "binary" else "variance_threshold_survival"
    return float(prep_cfg.get(key, 0.0))


def block_pipeline(prep_cfg: Mapping, kind: str, block: str = "radiomics") -> Pipeline:
    """Preprocessing pipeline for one feature block (``clinical``, ``radiomics`` or a phase).

    Numeric columns: median imputation; non-numeric columns: most-frequent imputation and
    ``OneHotEncoder(handle_unknown="ignore")``. Then :class:`VarianceFilter` with the threshold of
    the endpoint ``kind`` (see :func:`variance_threshold`) and ``StandardScaler``. Output is a
    DataFrame with feature names.
    """
    encode = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), make_column_selector(dtype_include="number")),
            (
                "cat",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                make_column_selector(dtype_exclude="number"),
            ),
        ],
        verbose_feature_names_out=False,
    )
    pipe = Pipeline(
        [
            ("missing", MissingnessFilter(float(prep_cfg.get("max_missing_fraction", 0.3)))),
            ("encode", encode),
            (
                "variance",
                VarianceFilter(
                    variance_threshold(prep_cfg, kind, block), prep_cfg.get("variance_scale", "raw")
                ),
            ),
            ("scale", StandardScaler()),
        ]
    )
    return pipe.set_output(transform="pandas")


def feature_transformer(
    block_columns: Mapping[str, Sequence[str]], prep_cfg: Mapping, kind: str
) -> ColumnTransformer:
    """One :func:`block_pipeline` per block, applied to its columns and concatenated.

    With one block this is that block's preprocessing; with several it is the input of early
    (feature-level) fusion. Output columns are prefixed with the block name.
    """
    ct = ColumnTransformer(
        [
            (name, block_pipeline(prep_cfg, kind, name), list(cols))
            for name, cols in block_columns.items()
        ],
        remainder="drop",
    )
    return ct.set_output(transform="pandas")
