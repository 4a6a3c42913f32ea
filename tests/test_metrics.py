"""AUC with DeLong CI, Harrell's and Uno's C with bootstrap CI, against known values; the
time-dependent AUC, Brier score, IBS and the paired C-index comparison on real cohorts."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from sksurv.datasets import load_gbsg2, load_veterans_lung_cancer, load_whas500
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import brier_score as sksurv_brier
from sksurv.metrics import cumulative_dynamic_auc, integrated_brier_score
from sksurv.nonparametric import kaplan_meier_estimator

from hccfusion.metrics import (
    TD_COLUMNS,
    _delong_components,
    _delong_covariance,
    auc_ci,
    brier_ci,
    cindex_ci,
    cindex_compare,
    cindex_uno_ci,
    delong_test,
    ibs_ci,
    td_auc_ci,
)


def _brute_delong(y, s):
    """DeLong et al. (1988) directly: placement values from the O(m n) kernel psi."""
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc = psi.mean()
    var = np.var(v10, ddof=1) / len(pos) + np.var(v01, ddof=1) / len(neg)
    return auc, var


def _binary_data(seed, n=80):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.round(y * 0.8 + rng.normal(size=n), 1)  # rounding creates ties
    return y, s


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_sklearn_and_bruteforce_delong(seed):
    y, s = _binary_data(seed)
    est, lo, hi = auc_ci(y, s)
    assert est == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    auc_b, var_b = _brute_delong(y, s)
    z = stats.norm.ppf(0.975)
    assert est == pytest.approx(auc_b)
    assert lo == pytest.approx(max(0, auc_b - z * np.sqrt(var_b)))
    assert hi == pytest.approx(min(1, auc_b + z * np.sqrt(var_b)))


def test_delong_hand_computed_example():
    # Positives 0.35, 0.8 vs negatives 0.1, 0.4: placements (0.5, 1) and (1, 0.5);
    # var = var(0.5, 1)/2 + var(1, 0.5)/2 = 0.125/2 + 0.125/2.
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    auc, v10, v01 = _delong_components(y, s[None, :])
    assert auc[0] == pytest.approx(0.75)
    assert _delong_covariance(v10, v01)[0, 0] == pytest.approx(0.125)


def test_auc_hanley_mcneil_rating_example():
    # Hanley & McNeil, Radiology 1982;143:29-36, Table 1: 5-point CT ratings, AUC = 0.893.
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(normal.size), np.ones(abnormal.size)]
    est, lo, hi = auc_ci(y, np.r_[normal, abnormal])
    assert est == pytest.approx(0.893, abs=5e-4)
    assert lo < est < hi and hi - lo == pytest.approx(2 * 1.96 * 0.032, abs=0.02)


def test_delong_test_paired():
    y, s = _binary_data(4, n=120)
    assert delong_test(y, s, s)[2] == pytest.approx(1.0)
    noise = np.random.default_rng(9).normal(size=y.size)
    a, b, p = delong_test(y, s + 0.01 * noise, noise)
    assert a > b and p < 0.01


def test_auc_undefined_is_nan():
    assert all(np.isnan(auc_ci([1, 1, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])))
    assert all(np.isnan(auc_ci([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])))


def _brute_harrell(time, event, risk):
    conc = pairs = 0.0
    for i in range(len(time)):
        for j in range(len(time)):
            if event[i] and time[i] < time[j]:
                pairs += 1
                conc += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return conc / pairs


def _surv_data(seed, n=60):
    rng = np.random.default_rng(seed)
    lp = rng.normal(size=n)
    t = rng.exponential(np.exp(-lp))
    c = rng.exponential(2.0, n)
    return np.minimum(t, c), (t <= c).astype(int), np.round(lp + rng.normal(0, 0.5, n), 1)


def test_cindex_perfect_reversed_and_bruteforce():
    time = np.arange(1.0, 21.0)
    event = np.ones(20, dtype=int)
    assert cindex_ci(time, event, -time, n_boot=50)[0] == pytest.approx(1.0)
    assert cindex_ci(time, event, time, n_boot=50)[0] == pytest.approx(0.0)
    t, e, r = _surv_data(1)
    est, lo, hi = cindex_ci(t, e, r, n_boot=300, seed=3)
    assert est == pytest.approx(_brute_harrell(t, e, r))
    assert lo < est < hi
    assert (est, lo, hi) == cindex_ci(t, e, r, n_boot=300, seed=3)  # seeded bootstrap


def test_cindex_undefined_is_nan():
    assert all(np.isnan(cindex_ci([1, 2, 3, 4, 5, 6], [0] * 6, [1, 2, 3, 4, 5, 6], n_boot=10)))
    assert all(np.isnan(cindex_ci([1, 2, 3], [1, 1, 1], [3, 2, 1], n_boot=10)))


def test_uno_equals_harrell_without_censoring():
    rng = np.random.default_rng(2)
    time = rng.permutation(np.arange(1.0, 41.0))
    event = np.ones(40, dtype=int)
    risk = -time + rng.normal(0, 8, 40)
    harrell = cindex_ci(time, event, risk, n_boot=10)[0]
    uno = cindex_uno_ci(time, event, time, event, risk, n_boot=50, tau=time.max())
    assert uno[0] == pytest.approx(harrell)
    assert uno[1] <= uno[0] <= uno[2]


def test_uno_default_tau_and_undefined():
    t, e, r = _surv_data(5, n=80)
    est, lo, hi = cindex_uno_ci(t[:50], e[:50], t[50:], e[50:], r[50:], n_boot=100)
    assert 0.5 < est < 1 and lo < hi
    assert all(np.isnan(cindex_uno_ci(t, e, t[:6], np.zeros(6), r[:6], n_boot=5)))


# --- time-dependent AUC, Brier score, IBS and the paired C-index comparison -------------------
# Real data: scikit-survival's bundled WHAS500 (500 patients after acute myocardial infarction,
# follow-up in days), veterans' lung cancer and GBSG-2 cohorts.

HORIZONS = np.array([180.0, 365.0, 730.0, 1095.0])


def _surv_at(fns, times):
    """Survival functions (sksurv StepFunctions) evaluated at ``times``: (n, len(times))."""
    return np.array([fn(np.asarray(times)) for fn in fns])


@cache
def _whas():
    """WHAS500 split 60/40 (seeded), a Cox model fitted on the training part."""
    X, y = load_whas500()
    X = X.astype(float)
    idx = np.random.default_rng(0).permutation(len(y))
    tr, te = idx[:300], idx[300:]
    model = CoxPHSurvivalAnalysis(alpha=1e-4).fit(X.iloc[tr], y[tr])
    surv = _surv_at(model.predict_survival_function(X.iloc[te]), HORIZONS)
    return y[tr], y[te], model.predict(X.iloc[te]), surv


def _km_prediction(y_train, times):
    """The no-skill prediction: the training Kaplan-Meier curve, the same for everyone."""
    t, s = kaplan_meier_estimator(y_train["fstat"], y_train["lenfol"])
    return s[np.searchsorted(t, times, side="right") - 1]


def test_td_auc_equals_sksurv_and_ci_brackets_it():
    y_tr, y_te, risk, _ = _whas()
    # Censoring distribution from the whole cohort, so every evaluated time lies inside it and
    # sksurv accepts the data unchanged.
    y_all = np.concatenate([y_tr, y_te])
    df = td_auc_ci(
        y_all["lenfol"],
        y_all["fstat"],
        y_te["lenfol"],
        y_te["fstat"],
        risk,
        HORIZONS,
        n_boot=200,
        seed=1,
    )
    assert list(df.columns) == TD_COLUMNS
    ref = cumulative_dynamic_auc(y_all, y_te, risk, HORIZONS)[0]
    np.testing.assert_allclose(df["estimate"], ref, rtol=1e-12)
    assert (df["ci_lower"] < df["estimate"]).all() and (df["estimate"] < df["ci_upper"]).all()
    assert (df["estimate"] > 0.7).all()  # age, heart rate, BMI... predict death well
    cases = [int(np.sum((y_te["lenfol"] <= h) & y_te["fstat"])) for h in HORIZONS]
    assert df["n_cases"].tolist() == cases
    assert (df["n_boot"] == 200).all()


def test_td_auc_training_censoring_and_horizons_beyond_follow_up():
    y_tr, y_te, risk, _ = _whas()
    # the evaluated cohort is followed longer (2358 d) than the training one (2353 d): such
    # follow-up is censored at 2353 d, so horizons from 2353 d on are NaN, earlier ones are not
    horizons = [365.0, 1800.0, 2353.0, 3000.0]
    df = td_auc_ci(
        y_tr["lenfol"], y_tr["fstat"], y_te["lenfol"], y_te["fstat"], risk, horizons, n_boot=20
    )
    assert y_te["lenfol"].max() > y_tr["lenfol"].max() == 2353.0
    assert np.isfinite(df["estimate"][:2]).all() and df["estimate"][2:].isna().all()
    assert df["ci_lower"][2:].isna().all() and (df["n_boot"][2:] == 0).all()
    # a horizon before the first event has no case
    assert np.isnan(
        td_auc_ci(
            y_tr["lenfol"], y_tr["fstat"], y_te["lenfol"], y_te["fstat"], risk, [0.5], n_boot=5
        )["estimate"][0]
    )
    with pytest.raises(ValueError, match="increasing"):
        td_auc_ci(
            y_tr["lenfol"], y_tr["fstat"], y_te["lenfol"], y_te["fstat"], risk, [730.0, 365.0]
        )


def test_td_auc_perfect_and_reversed_ranking_on_veterans():
    _, y = load_veterans_lung_cancer()
    t, e = y["Survival_in_days"], y["Status"]
    horizons = [30.0, 90.0, 180.0]
    perfect = td_auc_ci(t, e, t, e, -t, horizons, n_boot=50)
    np.testing.assert_allclose(perfect["estimate"], 1.0)
    assert (perfect["ci_lower"] > 0.99).all()
    np.testing.assert_allclose(td_auc_ci(t, e, t, e, t, horizons, n_boot=0)["estimate"], 0.0)


def test_td_auc_seeded_and_per_horizon_risk():
    y_tr, y_te, risk, surv = _whas()
    args = (y_tr["lenfol"], y_tr["fstat"], y_te["lenfol"], y_te["fstat"])
    a = td_auc_ci(*args, risk, HORIZONS, n_boot=60, seed=4)
    assert a.equals(td_auc_ci(*args, risk, HORIZONS, n_boot=60, seed=4))
    assert not a["ci_lower"].equals(td_auc_ci(*args, risk, HORIZONS, n_boot=60, seed=5)["ci_lower"])
    # 1 - S(t) per horizon ranks patients as the Cox linear predictor does
    per_horizon = td_auc_ci(*args, 1 - surv, HORIZONS, n_boot=0)
    np.testing.assert_allclose(per_horizon["estimate"], a["estimate"], atol=1e-9)


def test_brier_cox_beats_kaplan_meier_on_whas500():
    y_tr, y_te, _, surv = _whas()
    args = (y_tr["lenfol"], y_tr["fstat"], y_te["lenfol"], y_te["fstat"])
    km = np.tile(_km_prediction(y_tr, HORIZONS), (len(y_te), 1))
    cox = brier_ci(*args, surv, HORIZONS, n_boot=100, seed=2)
    null = brier_ci(*args, km, HORIZONS, n_boot=100, seed=2)
    assert (cox["estimate"] < null["estimate"]).all()
    assert (null["estimate"] < 0.25).all()  # KM's Brier score is about S(1 - S) <= 1/4
    assert ((cox["ci_lower"] <= cox["estimate"]) & (cox["estimate"] <= cox["ci_upper"])).all()
    # sksurv itself, once follow-up beyond the training follow-up is censored as documented
    end = y_tr["lenfol"].max()
    y_cut = y_te.copy()
    y_cut["fstat"] &= y_te["lenfol"] < end
    y_cut["lenfol"] = np.minimum(y_te["lenfol"], end)
    ref = sksurv_brier(y_tr, y_cut, surv, HORIZONS)[1]
    np.testing.assert_allclose(cox["estimate"], ref, rtol=1e-12)


def test_brier_without_censoring_is_the_mean_squared_error():
    X, y = load_veterans_lung_cancer()
    died = y["Status"]  # the 128 patients who died: no censoring, every IPC weight is 1
    t, e = y["Survival_in_days"][died], y["Status"][died]
    horizons = np.array([30.0, 100.0, 200.0])
    # an exponential prediction whose rate falls with the Karnofsky performance score
    rate = np.exp(-X["Karnofsky_score"].to_numpy()[died] / 25) / 30
    surv = np.exp(-np.outer(rate, horizons))
    df = brier_ci(t, e, t, e, surv, horizons, n_boot=0)
    expected = ((t[:, None] > horizons) - surv) ** 2
    np.testing.assert_allclose(df["estimate"], expected.mean(axis=0), rtol=1e-12)


def test_ibs_matches_the_sksurv_documentation_value_on_gbsg2():
    # sksurv.metrics.integrated_brier_score docstring: Cox on GBSG-2, 1 to 5 years -> 0.1816
    X, y = load_gbsg2()
    X["tgrade"] = X["tgrade"].map(len).astype(int)
    Xt = pd.get_dummies(X, drop_first=True, dtype=float)
    model = CoxPHSurvivalAnalysis(ties="efron").fit(Xt, y)
    times = np.arange(365, 1826, 10.0)
    surv = _surv_at(model.predict_survival_function(Xt), times)
    est, lo, hi = ibs_ci(y["time"], y["cens"], y["time"], y["cens"], surv, times, n_boot=30)
    assert est == pytest.approx(0.1816, abs=5e-4)
    assert est == pytest.approx(integrated_brier_score(y, y, surv, times), rel=1e-12)
    assert lo < est < hi


def test_ibs_of_kaplan_meier_on_whas500():
    y_tr, y_te, _, _ = _whas()
    grid = np.arange(30.0, 1460.0, 30.0)  # to about the 80th percentile of follow-up
    km = np.tile(_km_prediction(y_tr, grid), (len(y_te), 1))
    args = (y_tr["lenfol"], y_tr["fstat"], y_te["lenfol"], y_te["fstat"], km)
    est, lo, hi = ibs_ci(*args, grid, n_boot=100, seed=3)
    assert 0.15 < est < 0.25 and lo < est < hi
    assert (est, lo, hi) == ibs_ci(*args, grid, n_boot=100, seed=3)
    # a grid reaching past the follow-up would integrate over less than asked: NaN
    long_grid = np.r_[grid, 5000.0]
    km_long = np.tile(np.r_[_km_prediction(y_tr, grid), 0.0], (len(y_te), 1))
    assert all(np.isnan(ibs_ci(*args[:4], km_long, long_grid, n_boot=5)))


def test_cindex_compare_good_versus_random_and_identical():
    y_tr, y_te, risk, _ = _whas()
    t, e = y_te["lenfol"], y_te["fstat"]
    noise = np.random.default_rng(11).normal(size=len(t))
    diff, lo, hi, p = cindex_compare(t, e, risk, noise, n_boot=200, seed=0)
    assert diff == pytest.approx(
        cindex_ci(t, e, risk, n_boot=0)[0] - cindex_ci(t, e, noise, n_boot=0)[0]
    )
    assert diff > 0.15 and 0 < lo < diff < hi
    assert p == pytest.approx(2 / 201)  # every resampled difference > 0: the smallest p
    # the same resamples for both orders: the distribution is mirrored
    rev = cindex_compare(t, e, noise, risk, n_boot=200, seed=0)
    assert rev[:3] == pytest.approx((-diff, -hi, -lo)) and rev[3] == p
    assert cindex_compare(t, e, risk, risk, n_boot=30) == (0.0, 0.0, 0.0, 1.0)
    assert cindex_compare(t, e, risk, noise, n_boot=30, seed=7) == cindex_compare(
        t, e, risk, noise, n_boot=30, seed=7
    )


def test_cindex_compare_close_scores_not_significant_and_undefined():
    y_tr, y_te, risk, _ = _whas()
    t, e = y_te["lenfol"], y_te["fstat"]
    jitter = risk + np.random.default_rng(2).normal(0, 0.05 * risk.std(), len(t))
    diff, lo, hi, p = cindex_compare(t, e, risk, jitter, n_boot=200, seed=0)
    assert lo < 0 < hi and p > 0.05
    assert all(np.isnan(cindex_compare(t[:10], np.zeros(10), risk[:10], jitter[:10], n_boot=5)))


def test_brier_not_reported_where_training_censoring_survival_is_low(monkeypatch):
    """Heavy training censoring: G(t) falls below 0.1 late in follow-up. There IPCW weights
    exceed 10, so the Brier score is NaN; the guard, not the data, is what makes it NaN."""
    import hccfusion.metrics as metrics

    rng = np.random.default_rng(4)
    n = 300
    t_tr = rng.uniform(1, 100, n)
    e_tr = rng.uniform(size=n) < 0.05  # 95 % censored: G(95) ~ 0.1 or less
    t_te = rng.uniform(1, 100, n)
    e_te = rng.uniform(size=n) < 0.5
    surv = np.column_stack([np.full(n, 0.8), np.full(n, 0.5)])
    table = brier_ci(t_tr, e_tr, t_te, e_te, surv, [30, 95], n_boot=20, seed=0)
    assert np.isfinite(table.estimate[0]) and np.isnan(table.estimate[1])
    assert np.isnan(ibs_ci(t_tr, e_tr, t_te, e_te, surv, [30, 95], n_boot=20)[0])
    monkeypatch.setattr(metrics, "MIN_CENSORING_SURVIVAL", 0.0)
    unguarded = brier_ci(t_tr, e_tr, t_te, e_te, surv, [30, 95], n_boot=20, seed=0)
    assert np.isfinite(unguarded.estimate[1])


def test_bootstrap_c_index_equals_scikit_survival_on_each_resample(monkeypatch):
    # Tied times (event and censored at the same time), tied risks, repeated patients: the
    # pair-matrix bootstrap gives exactly sksurv's C-index of every resampled data set.
    from sksurv.metrics import concordance_index_censored

    from hccfusion.metrics import _bootstrap_draws, _harrell_draws

    rng = np.random.default_rng(8)
    n = 40
    time = rng.integers(1, 15, n).astype(float)
    event = rng.random(n) < 0.6
    risk = np.round(rng.normal(size=n), 1)
    other = risk + rng.normal(0, 1, n)

    def reference(i, r):
        if not event[i].any():
            return np.nan
        try:
            return concordance_index_censored(event[i], time[i], r[i])[0]
        except ValueError:
            return np.nan

    fast = _harrell_draws(time, event, [risk, other], 200, seed=5)
    # Cohorts too large for the pair matrix take the per-resample route, same resamples.
    monkeypatch.setattr("hccfusion.metrics._PAIR_MATRIX_MAX", 10)
    large = _harrell_draws(time, event, [risk, other], 200, seed=5)
    for k, r in enumerate((risk, other)):
        slow = _bootstrap_draws(lambda i, r=r: reference(i, r), n, 200, seed=5)
        np.testing.assert_allclose(fast[:, k], slow, rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(large[:, k], slow, rtol=1e-12, equal_nan=True)
