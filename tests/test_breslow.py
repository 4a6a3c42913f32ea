"""Survival probabilities from risk scores stay proper where a small cohort makes the numerics
hard: a linear predictor spanning e^80, a score that orders every event perfectly, a survival
function that ends before the last follow-up. Each case broke the tiny demo before the fix."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.ensemble import RandomSurvivalForest
from sksurv.linear_model.coxph import BreslowEstimator
from sksurv.util import Surv

from hccfusion.models.bma import BayesianModelAveraging
from hccfusion.models.breslow import (
    MAX_COEF,
    FastSurvivalSVMBreslow,
    GradientBoostingSurvivalStable,
    StableBreslowEstimator,
    cox_fit_1d,
    step_values,
)


def _cohort(n=60, seed=0, p=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    t = rng.exponential(size=n) * 500 / np.exp(0.8 * X[:, 0])
    c = rng.uniform(100, 1500, n)
    return X, np.minimum(t, c), t <= c


def test_stable_breslow_equals_scikit_survival_where_that_is_exact():
    X, time, event = _cohort()
    lp = 0.8 * X[:, 0]
    ref = BreslowEstimator().fit(lp, event, time)
    ours = StableBreslowEstimator().fit(lp, event, time)
    np.testing.assert_array_equal(ours.unique_times_, ref.unique_times_)
    new = np.array([-1.0, 0.0, 2.0])
    times = ref.unique_times_
    np.testing.assert_allclose(step_values(ours.get_survival_function(new), times),
                               step_values(ref.get_survival_function(new), times), rtol=1e-10)
    ch_ours = [fn(times) for fn in ours.get_cumulative_hazard_function(new)]
    ch_ref = [fn(times) for fn in ref.get_cumulative_hazard_function(new)]
    np.testing.assert_allclose(ch_ours, ch_ref, rtol=1e-10)


def test_stable_breslow_stays_exact_when_the_linear_predictor_spans_e80():
    X, time, event = _cohort(seed=1)
    # Risk perfectly ordered by time and spread over 80 log units (an overfitted booster).
    lp = -80 * (np.argsort(np.argsort(time)) / len(time))
    # Direct risk-set sums (no cancellation possible), relative to the largest lp.
    uniq = np.unique(time)
    steps = [event[time == t].sum() / np.exp(lp[time >= t] - lp.max()).sum() for t in uniq]
    ref_hazard = np.cumsum(steps) * np.exp(lp - lp.max())[:, None]
    est = StableBreslowEstimator().fit(lp, event, time)
    ours = np.array([fn(uniq) for fn in est.get_cumulative_hazard_function(lp)])
    np.testing.assert_allclose(ours, ref_hazard, rtol=1e-10)
    surv = step_values(est.get_survival_function(lp), uniq)
    assert ((surv >= 0) & (surv <= 1)).all() and (np.diff(surv, axis=1) <= 0).all()
    with np.errstate(all="ignore"):  # the stock estimator is off by orders of magnitude here
        stock = BreslowEstimator().fit(lp, event, time).get_cumulative_hazard_function(lp)
        stock = np.array([fn(uniq) for fn in stock])
    assert np.nanmax(np.abs(stock / ref_hazard - 1)) > 0.5


def test_cox_fit_1d_is_bounded_on_a_perfectly_ordering_covariate():
    _, time, event = _cohort(seed=2)
    z = -(time - time.mean()) / time.std()  # shorter time, higher z: monotone likelihood
    with np.errstate(all="raise"):  # no overflow, no log(0) on the way
        beta, ll = cox_fit_1d(z, event, time)
    assert beta == pytest.approx(MAX_COEF)
    assert np.isfinite(ll)
    beta_neg, _ = cox_fit_1d(-z, event, time, nonnegative=True)
    assert beta_neg == 0.0


def test_fast_svm_is_calibrated_on_out_of_fold_scores_when_it_separates_its_training_set():
    # 40 patients, 200 noise features and one weak signal: the SVM orders its own training set
    # almost perfectly, so an in-sample recalibration is extreme; out of fold it is not.
    rng = np.random.default_rng(3)
    n, p = 40, 200
    X = rng.normal(size=(n, p))
    t = rng.exponential(size=n) * 500 / np.exp(0.5 * X[:, 0])
    c = rng.uniform(300, 2000, n)
    y = Surv.from_arrays(event=t <= c, time=np.minimum(t, c))
    insample = FastSurvivalSVMBreslow(alpha=0.01, max_iter=50, random_state=0,
                                      calibration_cv=0).fit(X, y)
    oof = FastSurvivalSVMBreslow(alpha=0.01, max_iter=50, random_state=0).fit(X, y)
    assert insample.calibration_coef_ > 2 * max(oof.calibration_coef_, 0.1)
    np.testing.assert_allclose(oof.predict(X), insample.predict(X))  # the ranking is the same
    Xnew = rng.normal(size=(50, p))
    surv = step_values(oof.predict_survival_function(Xnew), [200.0, 500.0, 1000.0])
    assert ((surv >= 0) & (surv <= 1)).all()
    assert np.nanstd(surv[:, 1]) < np.nanstd(step_values(
        insample.predict_survival_function(Xnew), [500.0]))


def test_boosting_survival_probabilities_stay_proper_when_it_overfits():
    X, time, event = _cohort(n=30, seed=4, p=5)
    y = Surv.from_arrays(event=event, time=time)
    model = GradientBoostingSurvivalStable(n_estimators=400, learning_rate=1.0, max_depth=3,
                                           random_state=0).fit(X, y)
    surv = model.predict_survival_function(X, return_array=True)
    assert np.isfinite(surv).all() and ((surv >= 0) & (surv <= 1)).all()


def test_bma_risk_is_finite_when_a_base_model_ends_at_the_last_event():
    # The last follow-up is censored: a random survival forest's survival function ends at the
    # last event time, and the mixture's restricted mean time lost must still exist.
    X, time, event = _cohort(n=50, seed=5)
    time[np.argmax(time)] += 500.0
    event[np.argmax(time)] = False
    y = Surv.from_arrays(event=event, time=time)
    bases = [("rsf", RandomSurvivalForest(n_estimators=30, min_samples_leaf=5, random_state=0)),
             ("svm", FastSurvivalSVMBreslow(alpha=1.0, max_iter=50, random_state=0))]
    bma = BayesianModelAveraging(bases, cv=3, random_state=0).fit(X, y)
    assert bma.tau_ == time[event].max()
    assert np.isfinite(bma.oof_).all()
    assert np.isfinite(bma.predict(X)).all()
