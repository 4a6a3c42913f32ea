"""Named comparators of a recipe: an existing score turned into a model of the endpoint.

Seeds 000 and 003 compare their fusion models with what clinicians use already: the mRECIST
category, BCLC stage, ALBI grade, Child-Pugh class, CLIP, HAP, up-to-seven. Such a score is one
column (of the clinical table, or computed by :mod:`hccfusion.clinical_scores`); its direction and
scale are learned on the training patients only by a univariate model - logistic regression for a
binary endpoint, a Cox model (Breslow baseline) for a survival endpoint - so that it yields the same
kind of prediction as every other component (probability, or risk plus survival function) and goes
through the same validation statistics and paired comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sksurv.base import SurvivalAnalysisMixin
from sksurv.linear_model import CoxPHSurvivalAnalysis

from hccfusion.errors import name_list


class ScoreModel(SurvivalAnalysisMixin, BaseEstimator):
    """A univariate model of one existing score column.

    Parameters
    ----------
    column
        The score's column in the cohort table.
    kind
        ``binary`` (logistic regression) or ``survival`` (Cox proportional hazards).
    order
        Levels of an ordinal text score from best to worst (e.g. ``["CR", "PR", "SD", "PD"]``
        for mRECIST); they become 0, 1, 2, ... A value outside them is an error naming the
        patients.

    Missing values get the training median (logged count in ``n_imputed_``): a comparator must
    score every patient the recipe scores.
    """

    def __init__(self, column: str, kind: str = "survival", order: Sequence[str] | None = None):
        self.column = column
        self.kind = kind
        self.order = order

    def _values(self, X) -> np.ndarray:
        if not isinstance(X, pd.DataFrame) or self.column not in X.columns:
            raise ValueError(f"comparator column '{self.column}' is not in the cohort table")
        col = X[self.column]
        if self.order is not None:
            levels = {str(v): i for i, v in enumerate(self.order)}
            text = col.astype(object).where(col.notna(), None)
            bad = [f"{pid}={v!r}" for pid, v in text.items()
                   if v is not None and str(v) not in levels]
            if bad:
                raise ValueError(f"comparator column '{self.column}': values outside the order "
                                 f"{list(self.order)} for patients {name_list(bad)}")
            return np.array([np.nan if v is None else levels[str(v)] for v in text], dtype=float)
        values = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & values.isna()
        if bad.any():
            cells = [f"{pid}={col.loc[pid]!r}" for pid in col.index[bad]]
            raise ValueError(f"comparator column '{self.column}' is not numeric for patients "
                             f"{name_list(cells)}; give its levels as 'order'")
        return values.to_numpy(dtype=float)

    def score(self, X) -> np.ndarray:
        """The score of every patient (row) of ``X``, the training median for a missing one."""
        return self._filled(X)[:, 0]

    def _filled(self, X) -> np.ndarray:
        v = self._values(X)
        return np.where(np.isnan(v), self.median_, v)[:, None]

    def fit(self, X, y):
        v = self._values(X)
        if np.isnan(v).all():
            raise ValueError(f"comparator column '{self.column}' has no value for any training "
                             "patient")
        self.median_ = float(np.nanmedian(v))
        self.n_imputed_ = int(np.isnan(v).sum())
        if self.kind == "binary":
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(self._filled(X), y)
        else:
            # A tiny ridge keeps the fit finite if the score separates events perfectly.
            self.model_ = CoxPHSurvivalAnalysis(alpha=1e-6, ties="breslow").fit(
                self._filled(X), y)
        return self

    @property
    def coef_(self) -> float:
        """Log odds ratio (binary) or log hazard ratio (survival) per score unit."""
        return float(np.ravel(self.model_.coef_)[0])

    def predict_proba(self, X):
        return self.model_.predict_proba(self._filled(X))

    def predict(self, X):
        """Class (binary) or linear predictor, higher = worse (survival)."""
        return self.model_.predict(self._filled(X))

    def predict_survival_function(self, X, return_array: bool = False):
        return self.model_.predict_survival_function(self._filled(X), return_array=return_array)

    def predict_cumulative_hazard_function(self, X, return_array: bool = False):
        return self.model_.predict_cumulative_hazard_function(self._filled(X),
                                                              return_array=return_array)

    @property
    def unique_times_(self):
        return self.model_.unique_times_
