"""Discrimination and overall-accuracy metrics of predictions, with confidence intervals.

Binary: ROC AUC (DeLong). Survival: Harrell's and Uno's C, their paired comparison, the
time-dependent (cumulative/dynamic) AUC, the Brier score and the integrated Brier score.

Undefined cases (one class only, no events, no comparable pairs, fewer than
:data:`MIN_PATIENTS` patients) give NaN estimates and NaN intervals rather than an error or an
invented number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
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


def _delong_pair(y, score_a, score_b):
    """AUCs of two scores on the same patients and the DeLong variance of their difference;
    None when undefined."""
    y = np.asarray(y, dtype=float).ravel()
    a = np.asarray(score_a, dtype=float).ravel()
    b = np.asarray(score_b, dtype=float).ravel()
    ok = np.isfinite(y) & np.isfinite(a) & np.isfinite(b)
    y, a, b = y[ok].astype(int), a[ok], b[ok]
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m < 2 or n < 2 or m + n < MIN_PATIENTS:
        return None
    auc, v10, v01 = _delong_components(y, np.vstack([a, b]))
    cov = _delong_covariance(v10, v01)
    return float(auc[0]), float(auc[1]), float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])


def _two_sided_p(diff: float, var: float) -> float:
    if var <= 0:
        return 1.0 if diff == 0 else 0.0
    return float(2 * stats.norm.sf(abs(diff) / np.sqrt(var)))


def delong_test(y, score_a, score_b) -> tuple[float, float, float]:
    """Two-sided DeLong (1988) test of equal AUC for two scores on the same patients.

    Returns ``(auc_a, auc_b, p_value)``; NaN triple when undefined.
    """
    pair = _delong_pair(y, score_a, score_b)
    if pair is None:
        return _NAN3
    auc_a, auc_b, var = pair
    return auc_a, auc_b, _two_sided_p(auc_a - auc_b, var)


def auc_compare(y, score_a, score_b, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """Difference ``AUC(a) - AUC(b)`` on the same patients with its DeLong (1988) CI and p.

    Interval and test use the same DeLong variance of the difference, so they agree. Returns
    ``(difference, ci_lower, ci_upper, p_value)``; NaN quadruple when undefined.
    """
    pair = _delong_pair(y, score_a, score_b)
    if pair is None:
        return (np.nan, np.nan, np.nan, np.nan)
    auc_a, auc_b, var = pair
    diff = auc_a - auc_b
    half = stats.norm.ppf(1.0 - alpha / 2.0) * np.sqrt(max(var, 0.0))
    return diff, diff - half, diff + half, _two_sided_p(diff, var)


def brier_binary_ci(y, prob, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
                    ) -> tuple[float, float, float]:
    """Brier score of predicted probabilities for a binary outcome (Brier 1950), with a
    percentile bootstrap CI. NaN triple with fewer than :data:`MIN_PATIENTS` patients."""
    y, prob = _binary_inputs(y, prob)
    if y.size < MIN_PATIENTS:
        return _NAN3
    est = float(np.mean((prob - y) ** 2))
    lo, hi = _bootstrap(lambda i: float(np.mean((prob[i] - y[i]) ** 2)), y.size, n_boot, seed,
                        alpha)
    return est, lo, hi


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


#: Above this many patients the pair matrix of :func:`_harrell_draws` (8 n^2 bytes) is not built.
_PAIR_MATRIX_MAX = 3000


def _harrell_draws(time, event, risks, n_boot: int, seed: int) -> np.ndarray:
    """Harrell's C of each of ``risks`` on the resamples of :func:`_bootstrap_draws` with the same
    ``seed``: ``(n_boot, len(risks))``, NaN for a resample without a comparable pair.

    Written here because scikit-survival's function, called once per resample, spends most of its
    time validating its input (90 s of the evaluation of one endpoint). The comparable pairs
    (event ``i``; ``j`` later, or censored at the same time) and their scores (1 if ``i`` has the
    higher risk, 1/2 for risks within 1e-8, as ``concordance_index_censored``) are tabulated once;
    a resample holding patient ``k`` ``w_k`` times has C = sum w_i w_j s_ij / sum w_i w_j c_ij,
    which is exactly the C-index of the resampled data (two copies of one patient are never
    comparable).
    """
    n = time.size
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, n, n) for _ in range(int(n_boot))]
    if n > _PAIR_MATRIX_MAX:
        return np.asarray([[_harrell(time[i], event[i], r[i]) for r in risks] for i in draws])
    if not draws:
        return np.empty((0, len(risks)))
    counts = np.stack([np.bincount(i, minlength=n) for i in draws]).astype(float)
    later = (time[None, :] > time[:, None]) | ((time[None, :] == time[:, None]) & ~event[None, :])
    comparable = (event[:, None] & later).astype(float)
    den = np.sum((counts @ comparable) * counts, axis=1)
    out = np.empty((len(draws), len(risks)))
    for k, r in enumerate(risks):
        diff = r[:, None] - r[None, :]
        score = np.where(np.abs(diff) <= 1e-8, 0.5, (diff > 0).astype(float)) * comparable
        num = np.sum((counts @ score) * counts, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, k] = np.where(den > 0, num / den, np.nan)
    return out


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
    return (est, *_percentile(_harrell_draws(time, event, [risk], n_boot, seed)[:, 0], alpha))


def _bootstrap_draws(statistic, n: int, n_boot: int, seed: int) -> np.ndarray:
    """``statistic(indices)`` on ``n_boot`` resamples of ``n`` patients; rows are resamples.

    One generator per call, seeded, so that the same seed gives the same resamples (and every
    statistic computed from the same seed sees the same patients: the pairing of
    :func:`cindex_compare`).
    """
    rng = np.random.default_rng(seed)
    return np.asarray([statistic(rng.integers(0, n, n)) for _ in range(int(n_boot))], dtype=float)


def _bootstrap(statistic, n: int, n_boot: int, seed: int, alpha: float):
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n`` resampled patients."""
    return _percentile(_bootstrap_draws(statistic, n, n_boot, seed), alpha)


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
    train_time,
    train_event,
    time,
    event,
    risk,
    n_boot: int = 1000,
    seed: int = 0,
    tau: float | None = None,
    alpha: float = 0.05,
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
    return (
        est,
        *_bootstrap(
            lambda i: _uno(y_train, time[i], event[i], risk[i], tau), time.size, n_boot, seed, alpha
        ),
    )


# --- paired comparison of concordance -------------------------------------------------------

_NAN4 = (np.nan, np.nan, np.nan, np.nan)


def cindex_compare(
    time, event, risk_a, risk_b, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float, float]:
    """Difference of Harrell's C between two risk scores on the same patients, paired bootstrap.

    Returns ``(difference, ci_lower, ci_upper, p_value)`` for ``C(risk_a) - C(risk_b)``.

    Method: each bootstrap resample of patients is scored with both risks (the same resample for
    both, so the correlation between the two C-indices is kept), giving ``n_boot`` differences
    ``d*``. The interval is their percentile interval (Efron & Tibshirani 1993, ch. 13). The
    two-sided p-value inverts that interval: ``p = 2 min(P(d* <= 0), P(d* >= 0))`` with the
    Monte-Carlo correction ``(1 + #) / (1 + B)`` of Davison & Hinkley (1997, eq. 4.11), so a
    difference whose interval excludes 0 has ``p < alpha`` and ``p`` is never exactly 0. Identical
    scores give ``(0, 0, 0, 1)``. Resamples without an event or a comparable pair are skipped.

    There is no maintained Python implementation of a test for correlated C-indices (R's
    ``compareC`` implements Kang et al. 2015), hence this bootstrap, written here.

    NaN quadruple if there is no event or fewer than :data:`MIN_PATIENTS` patients; NaN interval
    and p if fewer than 2 resamples were usable.
    """
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event).astype(float).ravel()
    a = np.asarray(risk_a, dtype=float).ravel()
    b = np.asarray(risk_b, dtype=float).ravel()
    ok = np.isfinite(time) & np.isfinite(event) & np.isfinite(a) & np.isfinite(b)
    time, event, a, b = time[ok], event[ok].astype(bool), a[ok], b[ok]
    if time.size < MIN_PATIENTS or event.sum() == 0:
        return _NAN4
    diff = _harrell(time, event, a) - _harrell(time, event, b)
    if not np.isfinite(diff):
        return _NAN4

    both = _harrell_draws(time, event, [a, b], n_boot, seed)
    draws = both[:, 0] - both[:, 1]
    draws = draws[np.isfinite(draws)]
    if draws.size < 2:
        return float(diff), np.nan, np.nan, np.nan
    lo, hi = _percentile(draws, alpha)
    n = draws.size
    p = 2.0 * min((1 + np.sum(draws <= 0)) / (n + 1), (1 + np.sum(draws >= 0)) / (n + 1))
    return float(diff), lo, hi, float(min(1.0, p))


# --- time-dependent AUC and Brier score (IPCW) ----------------------------------------------
# The estimators are scikit-survival's; this section adds the bootstrap, the checks of which
# horizons are estimable, and NaN instead of sksurv's ValueError outside the follow-up.

TD_COLUMNS = ["horizon", "estimate", "ci_lower", "ci_upper", "n", "n_cases", "n_controls", "n_boot"]


def _horizons(horizons) -> np.ndarray:
    h = np.atleast_1d(np.asarray(horizons, dtype=float))
    if h.ndim != 1 or h.size == 0 or not np.all(np.isfinite(h)) or np.any(np.diff(h) <= 0):
        raise ValueError("horizons must be a non-empty, finite, strictly increasing sequence")
    return h


def _ipcw_inputs(train_time, train_event, time, event, pred, n_cols: int):
    """Clean inputs of the IPCW metrics.

    Returns the training ``Surv`` array (or None if it has fewer than :data:`MIN_PATIENTS`
    patients), and the evaluated ``time``, ``event``, ``pred`` (2-D) restricted to complete rows.
    Evaluated follow-up is censored at the end of training follow-up: the Kaplan-Meier estimate
    of the censoring distribution (from the training patients) is undefined beyond it. This
    changes nothing at horizons before that time (such a patient is a control either way), and
    horizons at or after it are not estimable (see :func:`_estimable`).
    """
    t_tr, e_tr, _ = _survival_inputs(train_time, train_event, np.zeros(np.size(train_time)))
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event).astype(float).ravel()
    pred = np.asarray(pred, dtype=float)
    pred = pred[:, None] if pred.ndim == 1 else pred
    if pred.ndim != 2 or pred.shape[0] != time.size or pred.shape[1] not in (1, n_cols):
        raise ValueError(f"predictions must have shape ({time.size},) or ({time.size}, {n_cols})")
    ok = np.isfinite(time) & np.isfinite(event) & np.all(np.isfinite(pred), axis=1)
    time, event, pred = time[ok], event[ok].astype(bool), pred[ok]
    if t_tr.size < MIN_PATIENTS:
        return None, time, event, pred
    end = t_tr.max()
    beyond = time >= end
    time = np.where(beyond, end, time)
    event = event & ~beyond
    return Surv.from_arrays(event=e_tr, time=t_tr), time, event, pred


def _estimable(time, horizons) -> np.ndarray:
    """Horizons inside the evaluated follow-up, ``min(time) <= t < max(time)``.

    This is scikit-survival's domain for ``cumulative_dynamic_auc`` and ``brier_score``: from the
    last follow-up time on, nobody is known to be event-free, so there are no controls.
    """
    if time.size == 0:
        return np.zeros(horizons.size, dtype=bool)
    return (horizons >= time.min()) & (horizons < time.max())


def _tdauc(y_train, time, event, pred, horizons) -> np.ndarray:
    out = np.full(horizons.size, np.nan)
    cases = (time[:, None] <= horizons) & event[:, None]
    controls = time[:, None] > horizons
    ok = _estimable(time, horizons) & cases.any(axis=0) & controls.any(axis=0)
    if ok.any():
        est = pred[:, 0] if pred.shape[1] == 1 else pred[:, ok]
        y_test = Surv.from_arrays(event=event, time=time)
        try:
            out[ok] = cumulative_dynamic_auc(y_train, y_test, est, horizons[ok])[0]
        except ValueError:  # censoring distribution zero at an event time
            pass
    return out


def _td_frame(horizons, estimate, draws, alpha, time, event) -> pd.DataFrame:
    rows = []
    for k, h in enumerate(horizons):
        col = draws[:, k] if draws.size else np.empty(0)
        lo, hi = _percentile(col, alpha) if np.isfinite(estimate[k]) else (np.nan, np.nan)
        rows.append(
            {
                "horizon": float(h),
                "estimate": float(estimate[k]),
                "ci_lower": lo,
                "ci_upper": hi,
                "n": int(time.size),
                "n_cases": int(np.sum((time <= h) & event)),
                "n_controls": int(np.sum(time > h)),
                "n_boot": int(np.isfinite(col).sum()) if np.isfinite(estimate[k]) else 0,
            }
        )
    return pd.DataFrame(rows, columns=TD_COLUMNS)


def td_auc_ci(
    train_time,
    train_event,
    time,
    event,
    risk,
    horizons,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Cumulative/dynamic time-dependent AUC per horizon with percentile bootstrap CIs.

    Uno H, Cai T, Tian L, Wei LJ. Evaluating prediction rules for t-year survivors with censored
    regression models. J Am Stat Assoc 2007;102:527-37; Hung H, Chiang CT. Estimation methods
    for time-dependent AUC models with survival data. Can J Stat 2010;38:8-26. Computed with
    ``sksurv.metrics.cumulative_dynamic_auc``: cases are patients with an event by ``t``,
    controls those still event-free after ``t``; cases are weighted by the inverse probability of
    censoring, estimated by Kaplan-Meier on the *training* patients (``train_time``,
    ``train_event``). Only the evaluated patients are resampled.

    ``risk`` is a risk score (higher = earlier event), either one column for all horizons or an
    ``(n, len(horizons))`` array (e.g. ``1 - S(t)`` per horizon). ``horizons`` must increase.

    Returns one row per horizon with columns :data:`TD_COLUMNS` (``n_cases``: events by ``t``;
    ``n_controls``: follow-up beyond ``t``; ``n_boot``: resamples in which ``t`` was estimable).
    The estimate is NaN at horizons outside ``[min, max)`` of the evaluated follow-up, at or after
    the end of training follow-up (no censoring distribution there), without a case or a control,
    or if there are fewer than :data:`MIN_PATIENTS` evaluated or training patients. Resamples in
    which a horizon is not estimable are skipped for that horizon; keep horizons well inside the
    follow-up (e.g. below its 80th percentile) so that few are.
    """
    horizons = _horizons(horizons)
    y_train, time, event, risk = _ipcw_inputs(
        train_time, train_event, time, event, risk, horizons.size
    )
    return _per_horizon_ci(
        lambda t, e, p: _tdauc(y_train, t, e, p, horizons),
        y_train, time, event, risk, horizons, n_boot, seed, alpha,
    )


def _per_horizon_ci(statistic, y_train, time, event, pred, horizons, n_boot, seed, alpha):
    """Estimate and percentile bootstrap CI per horizon of ``statistic(time, event, pred)``
    (one value per horizon), as the rows of :func:`_td_frame`; only evaluated patients are
    resampled. All NaN without enough training or evaluated patients."""
    if y_train is None or time.size < MIN_PATIENTS:
        est = np.full(horizons.size, np.nan)
        return _td_frame(horizons, est, np.empty((0, horizons.size)), alpha, time, event)
    est = statistic(time, event, pred)
    if np.isfinite(est).any():
        draws = _bootstrap_draws(
            lambda i: statistic(time[i], event[i], pred[i]), time.size, n_boot, seed
        ).reshape(-1, horizons.size)
    else:
        draws = np.empty((0, horizons.size))
    return _td_frame(horizons, est, draws, alpha, time, event)


#: IPCW weights are 1 / G(t); where the training censoring survival G falls below this, a few
#: patients carry weights > 10 and the Brier score is no longer a usable estimate (NaN instead).
MIN_CENSORING_SURVIVAL = 0.1


def _censoring_ok(y_train, horizons) -> np.ndarray:
    """Horizons at which the training censoring survival G(t) is at least
    :data:`MIN_CENSORING_SURVIVAL` (it depends on training patients only: computed once, not per
    bootstrap resample)."""
    from sksurv.nonparametric import CensoringDistributionEstimator

    ok = horizons < y_train["time"].max()  # sksurv cannot extrapolate
    if ok.any():
        cens = CensoringDistributionEstimator().fit(y_train)
        ok[ok] = cens.predict_proba(horizons[ok]) >= MIN_CENSORING_SURVIVAL
    return ok


def _brier(y_train, time, event, surv, horizons, usable) -> np.ndarray:
    out = np.full(horizons.size, np.nan)
    ok = _estimable(time, horizons) & usable
    if ok.any() and event.any():  # sksurv refuses an all-censored (resampled) cohort
        y_test = Surv.from_arrays(event=event, time=time)
        try:
            out[ok] = brier_score(y_train, y_test, surv[:, ok], horizons[ok])[1]
        except ValueError:  # censoring distribution zero at a test time
            pass
    return out


def brier_ci(
    train_time,
    train_event,
    time,
    event,
    surv_prob,
    horizons,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Time-dependent Brier score per horizon (IPCW) with percentile bootstrap CIs.

    Graf E, Schmoor C, Sauerbrei W, Schumacher M. Assessment and comparison of prognostic
    classification schemes for survival data. Stat Med 1999;18:2529-45. Computed with
    ``sksurv.metrics.brier_score``; the censoring distribution is the Kaplan-Meier estimate on
    the training patients. Lower is better; a constant prediction of 0.5 scores 0.25.

    ``surv_prob`` is an ``(n, len(horizons))`` array of predicted probabilities of being
    event-free at each horizon. Returns one row per horizon with columns :data:`TD_COLUMNS`.
    NaN at horizons outside ``[min, max)`` of the evaluated follow-up or at or after the end of
    training follow-up, or with fewer than :data:`MIN_PATIENTS` evaluated or training patients;
    resamples are handled as in :func:`td_auc_ci`.
    """
    horizons = _horizons(horizons)
    surv_prob = np.asarray(surv_prob, dtype=float)
    if surv_prob.ndim == 1 and horizons.size == 1:
        surv_prob = surv_prob[:, None]
    if surv_prob.ndim != 2 or surv_prob.shape[1] != horizons.size:
        raise ValueError(f"surv_prob must have one column per horizon ({horizons.size})")
    y_train, time, event, surv = _ipcw_inputs(
        train_time, train_event, time, event, surv_prob, horizons.size
    )
    usable = _censoring_ok(y_train, horizons) if y_train is not None else None
    return _per_horizon_ci(
        lambda t, e, p: _brier(y_train, t, e, p, horizons, usable),
        y_train, time, event, surv, horizons, n_boot, seed, alpha,
    )


def _ibs(y_train, time, event, surv, times) -> float:
    if not _estimable(time, times).all() or not event.any():
        return np.nan
    y_test = Surv.from_arrays(event=event, time=time)
    try:
        return float(integrated_brier_score(y_train, y_test, surv, times))
    except ValueError:  # censoring distribution zero at a test time
        return np.nan


def ibs_ci(
    train_time,
    train_event,
    time,
    event,
    surv_prob,
    times,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Integrated Brier score over a time grid, with a percentile bootstrap CI.

    Graf et al. (1999), as :func:`brier_ci`; computed with
    ``sksurv.metrics.integrated_brier_score`` (trapezoidal rule over ``times``, divided by
    ``times[-1] - times[0]``). ``surv_prob`` is ``(n, len(times))``: predicted probabilities of
    being event-free at each grid time; ``times`` must increase and have at least 2 points.

    Returns ``(estimate, lower, upper)``. NaN triple if any grid time lies outside
    ``[min, max)`` of the evaluated follow-up or at or after the end of training follow-up (the
    integral would silently cover a shorter range), or with fewer than :data:`MIN_PATIENTS`
    evaluated or training patients. Resamples whose follow-up does not cover the grid are
    skipped, so the grid should end well inside the follow-up (e.g. at its 80th percentile).
    """
    times = _horizons(times)
    if times.size < 2:
        raise ValueError("the integrated Brier score needs at least 2 grid times")
    surv_prob = np.asarray(surv_prob, dtype=float)
    if surv_prob.ndim != 2 or surv_prob.shape[1] != times.size:
        raise ValueError(f"surv_prob must have one column per grid time ({times.size})")
    y_train, time, event, surv = _ipcw_inputs(
        train_time, train_event, time, event, surv_prob, times.size
    )
    if y_train is None or time.size < MIN_PATIENTS or not _censoring_ok(y_train, times).all():
        return _NAN3
    est = _ibs(y_train, time, event, surv, times)
    if not np.isfinite(est):
        return _NAN3
    return (
        est,
        *_bootstrap(
            lambda i: _ibs(y_train, time[i], event[i], surv[i], times),
            time.size,
            n_boot,
            seed,
            alpha,
        ),
    )
