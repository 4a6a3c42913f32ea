"""Discrimination metrics with confidence intervals.

Undefined cases (one class only, no events, no comparable pairs, fewer than
:data:`MIN_PATIENTS` patients) give NaN estimates and NaN intervals rather than an error or an
invented number.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.util import Surv

MIN_PATIENTS = 5
_NAN3 = (np.nan, np.nan, np.nan)


# --- AUC with DeLong variance ---------------------------------------------------------------
# There is no well-maintained Python implementation of the DeLong AUC variance (pROC in R is the
# reference), so the fast algorithm of Sun & Xu (2014) is implemented here.


def _delong_components(y: np.ndarray, scores: np.ndarray):
    """AUCs and structural components (placement values) for one or several score vectors.

    Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under
    correlated receiver operating characteristic curves. IEEE Signal Process Lett 2014;21:1389-93.
    Midranks give the placement values in O(n log n) instead of DeLong's O(m n) kernel.

    ``scores`` has shape (k, n). Returns ``auc`` (k,), ``v10`` (k, m) for the m positives and
    ``v01`` (k, n0) for the n0 negatives.
    """
    pos = scores[:, y == 1]
    neg = scores[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    both = np.concatenate([pos, neg], axis=1)
    tz = stats.rankdata(both, axis=1)
    tx = stats.rankdata(pos, axis=1)
    ty = stats.rankdata(neg, axis=1)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    auc = v10.mean(axis=1)
    return auc, v10, v01


def _delong_covariance(v10: np.ndarray, v01: np.ndarray) -> np.ndarray:
    """DeLong covariance of the AUCs: S10 / m + S01 / n (DeLong et al., Biometrics 1988)."""
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10, ddof=1))
    s01 = np.atleast_2d(np.cov(v01, ddof=1))
    return s10 / m + s01 / n


def _binary_inputs(y, score):
    y = np.asarray(y).astype(float).ravel()
    score = np.asarray(score, dtype=float).ravel()
    ok = np.isfinite(y) & np.isfinite(score)
    return y[ok].astype(int), score[ok]


def auc_ci(y, score, alpha: float = 0.05) -> tuple[float, float, float]:
    """ROC AUC with a DeLong (1988) confidence interval, via Sun & Xu (2014).

    DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated
    receiver operating characteristic curves: a nonparametric approach. Biometrics 1988;44:837-45.

    Returns ``(estimate, lower, upper)``; the Wald interval is clipped to [0, 1]. NaN triple if
    there are fewer than 2 patients per class or fewer than :data:`MIN_PATIENTS` in total.
    """
    y, score = _binary_inputs(y, score)
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m < 2 or n < 2 or m + n < MIN_PATIENTS:
        return _NAN3
    auc, v10, v01 = _delong_components(y, score[None, :])
    se = float(np.sqrt(_delong_covariance(v10, v01)[0, 0]))
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    est = float(auc[0])
    return est, max(0.0, est - z * se), min(1.0, est + z * se)


def delong_test(y, score_a, score_b) -> tuple[float, float, float]:
    """Two-sided DeLong (1988) test of equal AUC for two scores on the same patients.

    Returns ``(auc_a, auc_b, p_value)``; NaN triple when undefined.
    """
    y = np.asarray(y, dtype=float).ravel()
    a = np.asarray(score_a, dtype=float).ravel()
    b = np.asarray(score_b, dtype=float).ravel()
    ok = np.isfinite(y) & np.isfinite(a) & np.isfinite(b)
    y, a, b = y[ok].astype(int), a[ok], b[ok]
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m < 2 or n < 2 or m + n < MIN_PATIENTS:
        return _NAN3
    auc, v10, v01 = _delong_components(y, np.vstack([a, b]))
    cov = _delong_covariance(v10, v01)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = auc[0] - auc[1]
    if var <= 0:
        p = 1.0 if diff == 0 else 0.0
    else:
        p = float(2 * stats.norm.sf(abs(diff) / np.sqrt(var)))
    return float(auc[0]), float(auc[1]), p


# --- concordance ------------------------------------------------------------------------------


def _survival_inputs(time, event, risk):
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event).astype(float).ravel()
    risk = np.asarray(risk, dtype=float).ravel()
    ok = np.isfinite(time) & np.isfinite(event) & np.isfinite(risk)
    return time[ok], event[ok].astype(bool), risk[ok]


def _harrell(time, event, risk) -> float:
    if event.sum() == 0:
        return np.nan
    try:
        return float(concordance_index_censored(event, time, risk)[0])
    except ValueError:  # no comparable pairs
        return np.nan


def _percentile(values, alpha):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return np.nan, np.nan
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def cindex_ci(
    time, event, risk, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Harrell's concordance index with a percentile bootstrap confidence interval.

    Harrell FE, Califf RM, Pryor DB, Lee KL, Rosati RA. Evaluating the yield of medical tests.
    JAMA 1982;247:2543-6. Computed with ``sksurv.metrics.concordance_index_censored`` (tied risks
    count 1/2). Higher ``risk`` means shorter expected survival. Bootstrap resamples without an
    event or a comparable pair are skipped. NaN triple if there is no event or fewer than
    :data:`MIN_PATIENTS` patients.
    """
    time, event, risk = _survival_inputs(time, event, risk)
    if time.size < MIN_PATIENTS or event.sum() == 0:
        return _NAN3
    est = _harrell(time, event, risk)
    if not np.isfinite(est):
        return _NAN3
    return (est, *_bootstrap(lambda i: _harrell(time[i], event[i], risk[i]), time.size,
                             n_boot, seed, alpha))


def _bootstrap(statistic, n: int, n_boot: int, seed: int, alpha: float):
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n`` resampled patients."""
    rng = np.random.default_rng(seed)
    boots = [statistic(rng.integers(0, n, n)) for _ in range(int(n_boot))]
    return _percentile(boots, alpha)


def default_tau(train_time, train_event) -> float:
    """Truncation time for Uno's C: the 90th percentile of training follow-up times.

    Keeps tau inside the training follow-up, where the Kaplan-Meier estimate of the censoring
    distribution is supported by enough patients at risk.
    """
    t = np.asarray(train_time, dtype=float)
    return float(np.percentile(t[np.isfinite(t)], 90))


def _uno(y_train, time, event, risk, tau) -> float:
    if event.sum() == 0:
        return np.nan
    keep = time <= y_train["time"].max()  # IPCW weights are undefined beyond training follow-up
    try:
        y_test = Surv.from_arrays(event=event[keep], time=time[keep])
        return float(concordance_index_ipcw(y_train, y_test, risk[keep], tau=tau)[0])
    except (ValueError, ZeroDivisionError):
        return np.nan


def cindex_uno_ci(
    train_time, train_event, time, event, risk, n_boot: int = 1000, seed: int = 0,
    tau: float | None = None, alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Uno's IPCW concordance index truncated at ``tau``, with a percentile bootstrap CI.

    Uno H, Cai T, Pencina MJ, D'Agostino RB, Wei LJ. On the C-statistics for evaluating overall
    adequacy of risk prediction procedures with censored survival data. Stat Med 2011;30:1105-17.
    The censoring distribution is the Kaplan-Meier estimate on the training patients
    (``train_time``, ``train_event``); ``tau`` defaults to :func:`default_tau`. Only the
    evaluated patients are resampled.
    """
    t_tr, e_tr, _ = _survival_inputs(train_time, train_event, np.zeros(len(train_time)))
    time, event, risk = _survival_inputs(time, event, risk)
    if time.size < MIN_PATIENTS or event.sum() == 0 or e_tr.sum() == 0:
        return _NAN3
    y_train = Surv.from_arrays(event=e_tr, time=t_tr)
    tau = default_tau(t_tr, e_tr) if tau is None else float(tau)
    est = _uno(y_train, time, event, risk, tau)
    if not np.isfinite(est):
        return _NAN3
    return (est, *_bootstrap(lambda i: _uno(y_train, time[i], event[i], risk[i], tau),
                             time.size, n_boot, seed, alpha))
