"""AUC with DeLong CI, Harrell's and Uno's C with bootstrap CI, against known values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from hccfusion.metrics import (
    _delong_components,
    _delong_covariance,
    auc_ci,
    cindex_ci,
    cindex_uno_ci,
    delong_test,
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
