"""Calibration statistics against exact properties, hand computations and real cohorts."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi
from scipy import stats
from scipy.special import expit, logit
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sksurv.datasets import load_whas500
from sksurv.nonparametric import kaplan_meier_estimator

from hccfusion.calibration import (
    CURVE_COLUMNS,
    binary_calibration_curve,
    binary_calibration_smooth,
    binary_calibration_summary,
    calibration_intercept,
    calibration_slope,
    hosmer_lemeshow,
    integrated_calibration_index,
    survival_calibration_curve,
    survival_calibration_slope,
    survival_calibration_summary,
    survival_ici,
)


@cache
def _logistic_world(seed=0, n=3000):
    """A well-specified logistic model: covariates, true risks and outcomes drawn from them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    p = expit(-0.5 + X @ np.array([1.0, -0.7, 0.4]))
    return X, p, rng.binomial(1, p)


@cache
def _exponential_world(seed=1, n=1500):
    """Proportional hazards with exponential baseline: S(t | x) = exp(-0.1 t exp(lp))."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(size=n)
    t_event = rng.exponential(1 / (0.1 * np.exp(lp)))
    t_cens = rng.uniform(0, 20, n)
    return lp, np.minimum(t_event, t_cens), t_event <= t_cens


def _true_surv(lp, horizon):
    return np.exp(-0.1 * horizon * np.exp(lp))


# --- binary ---------------------------------------------------------------------------------


def test_logistic_model_on_its_own_data_has_intercept_0_and_slope_1():
    # The score equations of unpenalised maximum likelihood make the logistic recalibration of
    # the model's own linear predictor exactly (a, b) = (0, 1) on its training data.
    X, _, y = _logistic_world()
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)
    prob = model.predict_proba(X)[:, 1]
    assert calibration_intercept(y, prob)[0] == pytest.approx(0.0, abs=1e-5)
    est, lo, hi = calibration_slope(y, prob)
    assert est == pytest.approx(1.0, abs=1e-5) and lo < 1 < hi


def test_true_risks_are_calibrated_and_shifted_risks_are_not():
    _, p, y = _logistic_world()
    summary = binary_calibration_summary(y, p)
    row = summary.iloc[0]
    assert row.intercept_lower < 0 < row.intercept_upper
    assert row.slope_lower < 1 < row.slope_upper
    assert row.hl_p > 0.05 and row.ici < 0.02
    # risks inflated on the logit scale by 1: calibration-in-the-large near -1, slope still 1
    inflated = expit(logit(p) + 1.0)
    a, a_lo, a_hi = calibration_intercept(y, inflated)
    assert a_lo < -1.0 < a_hi
    assert calibration_slope(y, inflated)[1] < 1 < calibration_slope(y, inflated)[2]
    assert hosmer_lemeshow(y, inflated)[2] < 1e-6
    # ICI measures the mean absolute distance to the smoothed observed risk
    shift = integrated_calibration_index(y, np.clip(p + 0.1, 0, 1))
    assert shift["ici"] == pytest.approx(0.1, abs=0.02)
    assert shift["e50"] <= shift["e90"] <= shift["emax"]


def test_overfitted_model_has_slope_below_1_on_held_out_data():
    # Wisconsin breast cancer: 30 features, 80 training patients, almost no penalty.
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, train_size=80, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    model = LogisticRegression(C=1e4, max_iter=10000).fit(scaler.transform(X_tr), y_tr)
    prob = model.predict_proba(scaler.transform(X_te))[:, 1]
    est, lo, hi = calibration_slope(y_te, prob)
    assert est < 1 and hi < 1
    # the same learner with a sensible penalty is much less extreme
    tame = LogisticRegression(C=0.05, max_iter=10000).fit(scaler.transform(X_tr), y_tr)
    assert calibration_slope(y_te, tame.predict_proba(scaler.transform(X_te))[:, 1])[0] > est


def test_hosmer_lemeshow_hand_computed():
    # three groups of 4 with p = 0.2, 0.5, 0.8 and 1, 2, 3 events:
    # (1 - 0.8)^2 / (0.8 * 0.8) + 0 + (3 - 3.2)^2 / (3.2 * 0.2) = 0.125, on 3 - 2 = 1 df
    p = np.repeat([0.2, 0.5, 0.8], 4)
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0])
    stat, dof, pval = hosmer_lemeshow(y, p, n_groups=3)
    assert stat == pytest.approx(0.125) and dof == 1
    assert pval == pytest.approx(stats.chi2.sf(0.125, 1))
    assert np.isnan(hosmer_lemeshow(y, np.full(12, 0.5))[0])  # one group only


def test_binary_curve_groups_and_wilson_intervals():
    _, p, y = _logistic_world()
    curve = binary_calibration_curve(y, p, n_groups=10)
    assert list(curve.columns) == CURVE_COLUMNS
    assert len(curve) == 10 and curve["n"].sum() == len(y) and curve["n_events"].sum() == y.sum()
    assert curve["predicted"].is_monotonic_increasing
    assert (curve.observed_lower <= curve.observed).all()
    assert (curve.observed <= curve.observed_upper).all()
    # Wilson (1927) score interval of the first group, by hand
    n, k = curve.n[0], curve.n_events[0]
    z = stats.norm.ppf(0.975)
    phat = k / n
    centre = (phat + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(phat * (1 - phat) / n + z**2 / (4 * n**2))
    assert curve.observed_lower[0] == pytest.approx(centre - half)
    assert curve.observed_upper[0] == pytest.approx(centre + half)
    exact = binary_calibration_curve(y, p, n_groups=10, ci_method="beta")
    assert exact.observed_lower[0] == pytest.approx(stats.beta.ppf(0.025, k, n - k + 1))
    smooth = binary_calibration_smooth(y, p)
    assert smooth["predicted"].is_monotonic_increasing and len(smooth) == 100
    assert np.abs(smooth["observed"] - smooth["predicted"]).max() < 0.06


def test_binary_undefined_cases_are_nan():
    p = np.linspace(0.1, 0.9, 20)
    assert all(np.isnan(calibration_slope(np.ones(20), p)))
    assert all(np.isnan(calibration_slope(np.r_[np.zeros(10), np.ones(10)], np.full(20, 0.3))))
    assert all(np.isnan(calibration_intercept([0, 1, 0], [0.2, 0.5, 0.4])))
    row = binary_calibration_summary(np.zeros(20), p).iloc[0]
    assert np.isnan(row.slope) and np.isnan(row.ici) and row.n == 20
    assert binary_calibration_curve([0, 1], [0.2, 0.4]).empty


# --- survival at a horizon ------------------------------------------------------------------


def test_cox_model_on_its_own_data_has_survival_slope_1_on_rossi():
    # Rossi recidivism (432 released prisoners, weeks to arrest, follow-up ends at week 52).
    # log(-log S_hat(52)) = log H0(52) + lp, and a Cox model on lp refitted to the same data
    # returns coefficient 1 (same partial likelihood, same Efron ties).
    rossi = load_rossi()
    cph = CoxPHFitter().fit(rossi, "week", "arrest")
    surv = cph.predict_survival_function(rossi, times=[52]).to_numpy().ravel()
    est, lo, hi = survival_calibration_slope(rossi.week, rossi.arrest, surv, horizon=52)
    assert est == pytest.approx(1.0, abs=1e-4) and lo < 1 < hi


def test_true_survival_is_calibrated_and_too_extreme_survival_is_not():
    lp, time, event = _exponential_world()
    horizon = 5.0
    row = survival_calibration_summary(time, event, _true_surv(lp, horizon), horizon).iloc[0]
    assert row.slope_lower < 1 < row.slope_upper
    assert row.oe_ratio == pytest.approx(1.0, abs=0.1)
    assert row.ici < 0.03 and row.e50 <= row.e90
    assert row.n_events == np.sum(event & (time <= horizon))
    # doubling the linear predictor makes predictions too extreme: slope 1/2
    extreme = survival_calibration_summary(time, event, _true_surv(2 * lp, horizon), horizon)
    assert extreme.slope_lower[0] < 0.5 < extreme.slope_upper[0] and extreme.slope_upper[0] < 1
    assert extreme.ici[0] > 3 * row.ici


def test_survival_curve_matches_kaplan_meier_on_whas500():
    _, y = load_whas500()
    t, e = y["lenfol"], y["fstat"]
    horizon = 365.0
    # one group: the observed value is the cohort's Kaplan-Meier estimate (sksurv's, here)
    km_t, km_s = kaplan_meier_estimator(e, t)
    km_365 = km_s[np.searchsorted(km_t, horizon, side="right") - 1]
    flat = np.full(len(t), 0.8)
    one = survival_calibration_curve(t, e, flat, horizon, n_groups=1)
    assert one.observed[0] == pytest.approx(km_365)
    assert one.observed_lower[0] < km_365 < one.observed_upper[0]
    # grouped by a prognostic score (age): observed survival falls with age
    X, _ = load_whas500()
    score = np.exp(-0.04 * (X["age"].to_numpy() - 40))  # a crude "survival" that falls with age
    curve = survival_calibration_curve(t, e, score, horizon, n_groups=4)
    assert list(curve.columns) == CURVE_COLUMNS and curve["n"].sum() == len(t)
    assert curve["observed"].is_monotonic_increasing
    # WHAS500's last patient died, so KM is 0 (and defined) from then on; in Rossi everyone
    # still free at week 52 is censored, so KM is undefined after week 52
    assert survival_calibration_curve(t, e, flat, 5000.0, n_groups=1).observed[0] == 0.0
    rossi = load_rossi()
    after = survival_calibration_curve(rossi.week, rossi.arrest, np.full(432, 0.8), 60.0)
    assert after.observed.isna().all() and len(after) == 1


def test_survival_undefined_cases_are_nan():
    lp, time, event = _exponential_world()
    surv = _true_surv(lp, 5.0)
    assert all(np.isnan(survival_calibration_slope(time, np.zeros_like(event), surv, 5.0)))
    assert all(np.isnan(survival_calibration_slope(time, event, np.full(len(time), 0.5), 5.0)))
    few = survival_ici(time[:40], event[:40], surv[:40], 0.2)  # fewer than 10 events by t
    assert np.isnan(few["ici"])
