"""Survival-endpoint (OS, PFS) building blocks.

- :class:`CoxnetCV`: elastic-net penalised Cox regression (Coxnet; Simon N, Friedman J, Hastie T,
  Tibshirani R. Regularization paths for Cox's proportional hazards model via coordinate descent.
  J Stat Softw 2011;39(5):1-13), the penalty alpha chosen by inner K-fold CV on Harrell's C-index;
  a candidate learner (``coxnet``) and the elastic-net step of the survival selection.
- :func:`event_splits`: K-fold stratified on the event indicator.
- :class:`LateFusionCox`: a Cox model with a small ridge penalty on the standardised out-of-fold
  risk scores of the base models (``models.survival_fusion: cox``; the default late fusion of
  PRIME-S is Bayesian model averaging, :mod:`hccfusion.models.bma`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from sksurv.base import SurvivalAnalysisMixin
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored

from hccfusion.models.learners import frozen
from hccfusion.models.response import nonnegative_meta


@contextmanager
def _quiet_coxnet():
    # The top of an alpha path has all coefficients zero by construction; that is expected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message="all coefficients are zero", category=UserWarning)
        yield


def _event_field(y) -> str:
    return y.dtype.names[0]


def event_splits(y, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold stratified on the event indicator, so that every fold holds events.

    With fewer censored patients than folds (common for PFS in small cohorts) stratification is
    impossible; the folds are then plain shuffled K-fold, which still spreads the events because
    they are the majority. ``k`` shrinks to the number of events when there are fewer.
    """
    event = y[_event_field(y)].astype(int)
    n_event = int(event.sum())
    n_censored = len(event) - n_event
    k = min(int(folds), n_event, len(event))
    if k < 2:
        raise ValueError(f"too few events ({n_event}) for {folds}-fold cross-validation")
    if n_censored >= k:
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(seed))
    else:
        cv = KFold(n_splits=k, shuffle=True, random_state=int(seed))
    return list(cv.split(np.zeros(len(event)), event))


def _harrell(y, risk) -> float:
    event, time = y[_event_field(y)], y[y.dtype.names[1]]
    if event.sum() == 0:
        return np.nan
    try:
        return float(concordance_index_censored(event.astype(bool), time, risk)[0])
    except ValueError:
        return np.nan


class CoxnetCV(SurvivalAnalysisMixin, BaseEstimator):
    """Elastic-net Cox regression with the penalty chosen by cross-validated C-index.

    The alpha path is computed once on all training data; each inner fold fits the same path and
    scores every alpha by Harrell's C on the held-out fold; the alpha with the highest mean C
    (the largest such alpha on ties, i.e. the sparsest model) is refitted on all data with
    ``fit_baseline_model=True`` so survival functions are available.
    """

    def __init__(self, l1_ratio: float = 0.5, n_alphas: int = 30, alpha_min_ratio: float = 0.05,
                 cv: int = 5, random_state: int = 0, max_iter: int = 100000):
        self.l1_ratio = l1_ratio
        self.n_alphas = n_alphas
        self.alpha_min_ratio = alpha_min_ratio
        self.cv = cv
        self.random_state = random_state
        self.max_iter = max_iter

    def _coxnet(self, **kw) -> CoxnetSurvivalAnalysis:
        return CoxnetSurvivalAnalysis(l1_ratio=self.l1_ratio, max_iter=self.max_iter, **kw)

    def _path(self, X, y) -> np.ndarray:
        ratio = float(self.alpha_min_ratio)
        for _ in range(4):
            try:
                with _quiet_coxnet():
                    model = self._coxnet(n_alphas=self.n_alphas, alpha_min_ratio=ratio).fit(X, y)
                return model.alphas_
            except ArithmeticError:
                # Tiny penalties on p >> n data can diverge; shorten the path.
                ratio = min(1.0, ratio * 5)
        raise ArithmeticError("Coxnet failed to converge even with a short penalty path")

    def fit(self, X, y):
        alphas = self._path(X, y)
        scores = np.full((int(self.cv), len(alphas)), np.nan)
        for k, (tr, te) in enumerate(event_splits(y, self.cv, self.random_state)):
            Xtr = X.iloc[tr] if hasattr(X, "iloc") else X[tr]
            Xte = X.iloc[te] if hasattr(X, "iloc") else X[te]
            try:
                with _quiet_coxnet():
                    model = self._coxnet(alphas=alphas).fit(Xtr, y[tr])
            except ArithmeticError:
                continue
            fitted = set(model.alphas_)
            for j, a in enumerate(alphas):
                if a in fitted:
                    scores[k, j] = _harrell(y[te], model.predict(Xte, alpha=a))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(scores, axis=0)
        if not np.isfinite(mean).any():
            raise ArithmeticError("Coxnet inner cross-validation failed for every alpha")
        best = int(np.nanargmax(mean))
        self.alphas_ = alphas
        self.cv_scores_ = scores
        self.alpha_ = float(alphas[best])
        with _quiet_coxnet():
            self.model_ = self._coxnet(alphas=alphas[: best + 1], fit_baseline_model=True).fit(X, y)
        self.n_features_in_ = self.model_.n_features_in_
        if hasattr(self.model_, "feature_names_in_"):
            self.feature_names_in_ = self.model_.feature_names_in_
        return self

    @property
    def coef_(self) -> np.ndarray:
        """Coefficients at the selected alpha."""
        check_is_fitted(self, "model_")
        return self.model_.coef_[:, -1]

    def predict(self, X) -> np.ndarray:
        """Linear predictor (log relative hazard); higher means higher risk."""
        check_is_fitted(self, "model_")
        return self.model_.predict(X, alpha=self.alpha_)

    def predict_survival_function(self, X, return_array: bool = False):
        check_is_fitted(self, "model_")
        return self.model_.predict_survival_function(X, alpha=self.alpha_,
                                                     return_array=return_array)

    def predict_cumulative_hazard_function(self, X, return_array: bool = False):
        check_is_fitted(self, "model_")
        return self.model_.predict_cumulative_hazard_function(X, alpha=self.alpha_,
                                                              return_array=return_array)


class LateFusionCox(SurvivalAnalysisMixin, BaseEstimator):
    """Cox model (ridge ``alpha``) on out-of-fold risk scores of survival base pipelines.

    ``fit`` refits every base estimator on all training data, computes each base estimator's
    out-of-fold risk on the training data (K-fold stratified on the event; ``fold_search`` as in
    :class:`~hccfusion.models.bma.BayesianModelAveraging`) and fits a standardised
    ``CoxPHSurvivalAnalysis`` on them. ``predict`` returns the meta model's linear predictor on
    the refitted bases' risk scores.
    """

    def __init__(self, estimators: Sequence[tuple[str, object]], alpha: float = 0.01,
                 cv: int = 5, random_state: int = 0, nonnegative: bool = True,
                 fold_search: str = "frozen"):
        self.estimators = estimators
        self.alpha = alpha
        self.cv = cv
        self.random_state = random_state
        self.nonnegative = nonnegative
        self.fold_search = fold_search

    def _meta_features(self, X) -> np.ndarray:
        return np.column_stack([est.predict(X) for _, est in self.estimators_])

    def fit(self, X, y):
        if self.fold_search not in ("frozen", "full"):
            raise ValueError(f"fold_search must be 'frozen' or 'full', got {self.fold_search!r}")
        self.estimators_ = [(name, clone(est).fit(X, y)) for name, est in self.estimators]
        oof = np.zeros((len(y), len(self.estimators)))
        for tr, te in event_splits(y, self.cv, self.random_state):
            Xtr = X.iloc[tr] if hasattr(X, "iloc") else X[tr]
            Xte = X.iloc[te] if hasattr(X, "iloc") else X[te]
            for j, (_, fitted) in enumerate(self.estimators_):
                template = (frozen(fitted) if self.fold_search == "frozen"
                            else clone(self.estimators[j][1]))
                oof[te, j] = template.fit(Xtr, y[tr]).predict(Xte)
        self.oof_ = oof
        self.kept_, self.meta_ = nonnegative_meta(
            lambda cols: make_pipeline(
                StandardScaler(), CoxPHSurvivalAnalysis(alpha=self.alpha, ties="breslow")
            ).fit(oof[:, cols], y),
            lambda model: model[-1].coef_,
            oof.shape[1],
            self.nonnegative,
        )
        if not self.kept_:
            # No base model earns a positive weight: the null Cox model (Kaplan-Meier baseline).
            self.meta_ = make_pipeline(
                StandardScaler(), CoxPHSurvivalAnalysis(alpha=self.alpha, ties="breslow")
            ).fit(np.zeros((len(y), 1)), y)
        return self

    def _meta_input(self, X) -> np.ndarray:
        if not self.kept_:
            return np.zeros((len(X), 1))
        return self._meta_features(X)[:, self.kept_]

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "meta_")
        return self.meta_.predict(self._meta_input(X))

    def predict_survival_function(self, X, return_array: bool = False):
        check_is_fitted(self, "meta_")
        return self.meta_.predict_survival_function(self._meta_input(X),
                                                    return_array=return_array)

    @property
    def weights_(self) -> dict[str, float]:
        """Meta Cox coefficient (per SD of out-of-fold risk) of each base model (0 if dropped)."""
        coef = np.zeros(len(self.estimators))
        if self.kept_:
            coef[self.kept_] = self.meta_[-1].coef_
        return {name: float(c) for (name, _), c in zip(self.estimators, coef, strict=True)}
