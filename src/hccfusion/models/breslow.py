r"""Survival probabilities for every survival model: Cox recalibration with a Breslow baseline.

Some survival learners give a risk score only (FastSurvivalSVM ranks patients; it has no
baseline hazard). To turn such a score ``r(x)`` into survival probabilities the score is
recalibrated by a one-covariate Cox model on the training data and given Breslow's baseline
hazard (Breslow NE. Discussion of Cox DR, Regression models and life-tables. J R Stat Soc B
1972;34:216-7):

.. math::

    z = (r - \bar r) / s_r, \qquad h(t \mid x) = h_0(t)\, e^{\beta z(x)}, \qquad
    \hat S(t \mid x) = \exp\{-\hat H_0(t)\, e^{\hat\beta z(x)}\},

with ``beta`` maximising the Cox partial likelihood (Breslow's handling of ties) of the training
outcomes and ``H_0`` the Breslow estimator of the cumulative baseline hazard given ``beta z``
(:class:`sksurv.linear_model.coxph.BreslowEstimator`). The ranking of patients is unchanged
(``beta >= 0`` for any score that is concordant on the training data); only the scale of the score
is learned. The same one-covariate Cox fit (:func:`cox_fit_1d`) gives the evidence of the
Bayesian model averaging in :mod:`hccfusion.models.bma`.

Numerics. A score that ranks the training patients perfectly (an SVM on many features, on its own
training data) has a monotone partial likelihood with no finite maximum, so ``beta`` is bounded
(:data:`MAX_COEF` per SD of the score) and, for FastSurvivalSVM, learned from out-of-fold scores
(``calibration_cv``): the scale of a score is a property of new patients, not of the ones the
ranking was fitted to. The Breslow estimator is :class:`StableBreslowEstimator`, which sums the
risk sets without the subtractions of scikit-survival 0.28's estimator (those lose every digit
when ``exp`` of the linear predictor spans more than ~1e16 and gave negative hazards, i.e. survival
above 1, on the tiny demo).

This module also holds :func:`step_values`, which evaluates scikit-survival step functions at
arbitrary times (1 before the first time point, NaN after the model's training follow-up), and
:func:`survival_at`, which gives ``(n, len(times))`` survival probabilities of any fitted survival
estimator or pipeline.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from sksurv.ensemble import GradientBoostingSurvivalAnalysis
from sksurv.functions import StepFunction
from sksurv.linear_model.coxph import BreslowEstimator
from sksurv.nonparametric import _compute_counts  # the counts BreslowEstimator.fit uses
from sksurv.svm import FastSurvivalSVM

#: Bound on the one-covariate Cox coefficient per SD of a score (hazard ratio e^5 = 148 per SD,
#: far beyond any real prognostic score): the maximum of a monotone likelihood is at infinity.
MAX_COEF = 5.0

__all__ = [
    "MAX_COEF",
    "GradientBoostingSurvivalStable",
    "StableBreslowEstimator",
    "FastSurvivalSVMBreslow",
    "cox_fit_1d",
    "cox_partial_loglik",
    "step_values",
    "survival_at",
    "survival_functions",
]


def _fields(y):
    return y[y.dtype.names[0]].astype(bool), y[y.dtype.names[1]].astype(float)


def _risk_sums(time: np.ndarray, event: np.ndarray, z: np.ndarray, beta: float):
    """Per event: sums over its risk set of exp(beta z), z exp(beta z), z^2 exp(beta z)."""
    order = np.argsort(time, kind="mergesort")
    t, e, zz = time[order], event[order], z[order]
    w = np.exp(beta * zz - np.max(beta * zz))  # shifted for stability; cancels in ratios
    # Risk set of time t: everyone with time >= t. Reverse cumulative sums, then for tied times
    # take the value at the first index of the tie group.
    s0 = np.cumsum(w[::-1])[::-1]
    s1 = np.cumsum((w * zz)[::-1])[::-1]
    s2 = np.cumsum((w * zz * zz)[::-1])[::-1]
    first = np.searchsorted(t, t, side="left")
    return zz[e], s0[first][e], s1[first][e], s2[first][e], np.max(beta * zz)


def cox_partial_loglik(z, event, time, beta: float) -> float:
    """Cox partial log-likelihood (Breslow ties) of one covariate ``z`` at coefficient ``beta``."""
    z, event, time = (np.asarray(a, dtype=float) for a in (z, event, time))
    ze, s0, _, _, shift = _risk_sums(time, event.astype(bool), z, beta)
    return float(np.sum(beta * ze - (np.log(s0) + shift)))


def cox_fit_1d(z, event, time, *, nonnegative: bool = False, max_iter: int = 50,
               tol: float = 1e-9, bound: float = MAX_COEF) -> tuple[float, float]:
    """Maximum partial-likelihood coefficient of one covariate: ``(beta, loglik)``.

    Newton-Raphson with step halving on the Breslow partial likelihood, ``beta`` kept within
    ``[-bound, bound]`` (a covariate that orders every event perfectly has its maximum at
    infinity). ``nonnegative=True`` constrains ``beta >= 0`` (the log-likelihood is concave, so
    the constrained maximum is at 0 when the unconstrained one is negative). A constant covariate
    gives ``beta = 0``.
    """
    z, event, time = (np.asarray(a, dtype=float) for a in (z, event, time))
    event = event.astype(bool)
    if not event.any() or np.ptp(z) == 0:
        return 0.0, cox_partial_loglik(z, event, time, 0.0)
    beta = 0.0
    ll = cox_partial_loglik(z, event, time, beta)
    for _ in range(max_iter):
        ze, s0, s1, s2, _ = _risk_sums(time, event, z, beta)
        grad = float(np.sum(ze - s1 / s0))
        info = float(np.sum(s2 / s0 - (s1 / s0) ** 2))
        if info <= 1e-12:
            break
        step = grad / info
        for _ in range(30):
            new = float(np.clip(beta + step, -bound, bound))
            new_ll = cox_partial_loglik(z, event, time, new)
            if new_ll >= ll - 1e-12:
                break
            step /= 2
        done = abs(new - beta) < tol * max(1.0, abs(beta))
        beta, ll = new, new_ll
        if done:
            break
    if nonnegative and beta < 0:
        return 0.0, cox_partial_loglik(z, event, time, 0.0)
    return float(beta), float(ll)


def step_values(functions, times) -> np.ndarray:
    """Values of scikit-survival survival step functions at ``times``: ``(n_functions, n_times)``.

    1 before the first time point (no event can have happened), NaN after the end of the
    function's domain (the training follow-up of the model: survival beyond it is unknown, as in
    :mod:`hccfusion.persist`), the step value in between. scikit-survival's own ``__call__``
    refuses any time outside the domain.
    """
    times = np.atleast_1d(np.asarray(times, dtype=float))
    out = np.empty((len(functions), len(times)))
    for i, fn in enumerate(functions):
        idx = np.searchsorted(fn.x, times, side="right") - 1
        vals = fn.a * np.asarray(fn.y, dtype=float)[np.clip(idx, 0, None)] + fn.b
        vals = np.where(idx >= 0, vals, 1.0)
        upper = fn.domain[1] if hasattr(fn, "domain") else np.inf
        out[i] = np.where(times > upper, np.nan, vals)
    return out


def survival_functions(estimator, X):
    """Survival step functions of a fitted estimator or of a pipeline ending in one."""
    if isinstance(estimator, Pipeline):
        return estimator[-1].predict_survival_function(estimator[:-1].transform(X))
    return estimator.predict_survival_function(X)


def survival_at(estimator, X, times) -> np.ndarray:
    """Survival probabilities ``(n_patients, len(times))`` of a fitted survival model.

    Estimators with their own ``predict_survival(X, times)`` (Bayesian model averaging) are asked
    directly; the others through their survival step functions (:func:`step_values`).
    """
    if hasattr(estimator, "predict_survival"):
        return estimator.predict_survival(X, times)
    return step_values(survival_functions(estimator, X), times)


class StableBreslowEstimator(BreslowEstimator):
    """Breslow's cumulative baseline hazard with risk-set sums that cannot cancel.

    scikit-survival 0.28 forms each risk set's sum of ``exp(lp)`` by subtracting the leavers from
    the total; once the values span more than ~1e16 the later sums lose every digit and turn
    negative. Here they are reverse cumulative sums of ``exp(lp - offset_)`` (``offset_`` the
    largest training ``lp``), and predictions use ``lp - offset_``; the estimator is otherwise the
    same (same attributes, ``cum_baseline_hazard_`` relative to ``offset_``).
    """

    def fit(self, linear_predictor, event, time):
        lp = np.asarray(linear_predictor, dtype=float)
        event = np.asarray(event, dtype=bool)
        time = np.asarray(time, dtype=float)
        self.offset_ = float(np.max(lp)) if lp.size else 0.0
        order = np.argsort(time, kind="mergesort")
        uniq_times, n_events, n_at_risk, _ = _compute_counts(event, time, order)
        tail = np.cumsum(np.exp(lp[order] - self.offset_)[::-1])[::-1]
        divisor = tail[len(lp) - n_at_risk]  # risk set of a time: the sorted tail from there
        y = np.cumsum(n_events / divisor)
        self.cum_baseline_hazard_ = StepFunction(uniq_times, y)
        self.baseline_survival_ = StepFunction(uniq_times, np.exp(-y))
        self.unique_times_ = uniq_times
        return self

    def _relative_risk(self, linear_predictor) -> np.ndarray:
        return np.exp(np.asarray(linear_predictor, dtype=float) - self.offset_)

    def get_cumulative_hazard_function(self, linear_predictor):
        base = self.cum_baseline_hazard_
        risk = self._relative_risk(linear_predictor)
        funcs = np.empty(len(risk), dtype=object)
        for i, r in enumerate(risk):
            funcs[i] = StepFunction(x=base.x, y=base.y, a=r)
        return funcs

    def get_survival_function(self, linear_predictor):
        # exp(-H0 r) rather than S0 ** r: S0 rounds to 1 when H0 is tiny relative to the offset.
        base = self.cum_baseline_hazard_
        risk = self._relative_risk(linear_predictor)
        funcs = np.empty(len(risk), dtype=object)
        for i, r in enumerate(risk):
            funcs[i] = StepFunction(x=base.x, y=np.exp(-base.y * r))
        return funcs


class GradientBoostingSurvivalStable(GradientBoostingSurvivalAnalysis):
    """scikit-survival's gradient boosting survival model with :class:`StableBreslowEstimator`
    as the baseline of its Cox loss (boosting on a small cohort spreads the in-sample linear
    predictor far enough for the stock estimator to return negative hazards)."""

    def _set_baseline_model(self, X, event, time):
        # Same as the parent (scikit-survival 0.28), with the stable estimator.
        if self.loss == "coxph":
            self._baseline_model = StableBreslowEstimator().fit(self._predict(X), event, time)
        else:
            self._baseline_model = None


class _BreslowMixin:
    """Cox recalibration of a risk score with a Breslow baseline (module docstring).

    ``_fit_baseline(X, y, calibration_risk)`` learns the scale from ``calibration_risk`` (the
    training patients' out-of-fold scores) when given, else from the in-sample score."""

    def _fit_baseline(self, X, y, calibration_risk=None):
        event, time = _fields(y)
        risk = self._risk(X) if calibration_risk is None else np.asarray(calibration_risk)
        self.risk_mean_ = float(np.mean(risk))
        sd = float(np.std(risk))
        self.risk_scale_ = sd if sd > 0 else 1.0
        z = (risk - self.risk_mean_) / self.risk_scale_
        self.calibration_coef_, self.calibration_loglik_ = cox_fit_1d(z, event, time)
        self.baseline_ = StableBreslowEstimator().fit(self.calibration_coef_ * z, event, time)
        self.unique_times_ = self.baseline_.unique_times_
        return self

    def _linear_predictor(self, X) -> np.ndarray:
        check_is_fitted(self, "baseline_")
        return self.calibration_coef_ * (self._risk(X) - self.risk_mean_) / self.risk_scale_

    def predict_survival_function(self, X, return_array: bool = False):
        """Breslow survival functions of the recalibrated risk score."""
        fns = self.baseline_.get_survival_function(self._linear_predictor(X))
        if return_array:
            return step_values(fns, self.unique_times_)
        return fns

    def predict_cumulative_hazard_function(self, X, return_array: bool = False):
        """Breslow cumulative hazard functions of the recalibrated risk score."""
        fns = self.baseline_.get_cumulative_hazard_function(self._linear_predictor(X))
        if return_array:
            return np.vstack([fn.a * fn.y + fn.b for fn in fns])
        return fns


class FastSurvivalSVMBreslow(_BreslowMixin, FastSurvivalSVM):
    """:class:`sksurv.svm.FastSurvivalSVM` (Polsterl S, Navab N, Katouzian A. Fast training of
    support vector machines for survival analysis. ECML PKDD 2015) with survival probabilities:
    its ranking score recalibrated by a Cox model with a Breslow baseline (module docstring).

    Same parameters as ``FastSurvivalSVM`` plus ``calibration_cv``: the recalibration is fitted
    on the training patients' out-of-fold scores from that many folds stratified on the event (as
    scikit-learn's ``CalibratedClassifierCV(ensemble=False)``), and applied to the score of the
    SVM fitted on all of them; ``0`` or too few events for two folds fall back to the in-sample
    score. ``predict`` is unchanged (with the default ``rank_ratio=1`` a risk score, higher =
    shorter survival).
    """

    def __init__(self, alpha=1, *, rank_ratio=1.0, fit_intercept=False, max_iter=20,
                 verbose=False, tol=None, optimizer=None, random_state=None, timeit=False,
                 calibration_cv=5):
        super().__init__(alpha=alpha, rank_ratio=rank_ratio, fit_intercept=fit_intercept,
                         max_iter=max_iter, verbose=verbose, tol=tol, optimizer=optimizer,
                         random_state=random_state, timeit=timeit)
        self.calibration_cv = calibration_cv

    def _risk(self, X) -> np.ndarray:
        return _oriented_risk_svm(self, X)

    def _oof_risk(self, X, y) -> np.ndarray | None:
        from hccfusion.models.survival import event_splits

        if int(self.calibration_cv) < 2:
            return None
        try:
            splits = event_splits(y, int(self.calibration_cv), self.random_state or 0)
        except ValueError:
            return None
        params = {k: v for k, v in self.get_params().items() if k != "calibration_cv"}
        oof = np.empty(len(y))
        for tr, te in splits:
            Xtr = X.iloc[tr] if hasattr(X, "iloc") else X[tr]
            Xte = X.iloc[te] if hasattr(X, "iloc") else X[te]
            oof[te] = _oriented_risk_svm(FastSurvivalSVM(**params).fit(Xtr, y[tr]), Xte)
        return oof

    def fit(self, X, y):
        super().fit(X, y)
        return self._fit_baseline(X, y, calibration_risk=self._oof_risk(X, y))


def _oriented_risk_svm(model, X) -> np.ndarray:
    score = np.asarray(FastSurvivalSVM.predict(model, X), dtype=float)
    return score if getattr(model, "_predict_risk_score", True) else -score
