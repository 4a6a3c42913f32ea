"""Decision curve analysis: net benefit of treating by predicted risk, across risk thresholds.

Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating prediction models.
Med Decis Making 2006;26:565-74. At a threshold probability ``pt`` a patient is treated when the
predicted risk is at least ``pt``; the net benefit counts true positives and charges each false
positive the odds ``pt / (1 - pt)``:

    NB(pt) = TP / n - FP / n * pt / (1 - pt).

The references are *treat all* (everyone is treated) and *treat none* (NB = 0). For survival at
a horizon ``t`` the proportions of true and false positives are estimated by Kaplan-Meier in the
treated (high-risk) group (Vickers AJ, Cronin AM, Elkin EB, Gonen M. Extensions to decision curve
analysis, a novel method for evaluating diagnostic tests, prediction models and molecular
markers. BMC Med Inform Decis Mak 2008;8:53).

The formulas are written here: MSKCC's ``dcurves`` package implements them but is not a
dependency of the workflow, and they are a few lines each. Output is tidy: one row per
(threshold, model) with columns :data:`COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from sksurv.nonparametric import kaplan_meier_estimator

from hccfusion.metrics import _bootstrap_draws, _percentile, _survival_inputs

__all__ = [
    "COLUMNS",
    "TREAT_ALL",
    "TREAT_NONE",
    "decision_curve",
    "default_thresholds",
    "net_benefit",
    "survival_decision_curve",
    "survival_net_benefit",
]

COLUMNS = ["threshold", "model", "net_benefit", "ci_lower", "ci_upper"]
TREAT_ALL = "treat_all"
TREAT_NONE = "treat_none"


def default_thresholds() -> np.ndarray:
    """Threshold probabilities 0, 0.01, ..., 0.99."""
    return np.round(np.arange(0.0, 1.0, 0.01), 2)


def _thresholds(thresholds) -> np.ndarray:
    pt = (
        default_thresholds()
        if thresholds is None
        else np.atleast_1d(np.asarray(thresholds, dtype=float))
    )
    if pt.ndim != 1 or pt.size == 0 or np.any(~np.isfinite(pt)) or np.any((pt < 0) | (pt >= 1)):
        raise ValueError("thresholds must be finite probabilities in [0, 1)")
    return pt


def net_benefit(y, risk, thresholds=None) -> np.ndarray:
    """Net benefit of treating patients with ``risk >= pt``, for each threshold ``pt``.

    Vickers & Elkin (2006), binary outcome ``y`` (0/1). Treat-all is ``risk = 1`` for everyone;
    treat-none is 0. At ``pt = 0`` every patient is treated, so NB equals the prevalence.
    Returns an array aligned with ``thresholds`` (default :func:`default_thresholds`); NaN if
    there is no patient with finite ``y`` and ``risk``.
    """
    pt = _thresholds(thresholds)
    y = np.asarray(y, dtype=float).ravel()
    risk = np.asarray(risk, dtype=float).ravel()
    ok = np.isfinite(y) & np.isfinite(risk)
    y, risk = y[ok].astype(bool), risk[ok]
    if y.size == 0:
        return np.full(pt.size, np.nan)
    treated = risk[:, None] >= pt[None, :]
    tp = (treated & y[:, None]).sum(axis=0)
    fp = (treated & ~y[:, None]).sum(axis=0)
    return tp / y.size - fp / y.size * pt / (1 - pt)


def _km_at(time, event, horizon) -> float:
    """Kaplan-Meier S(horizon) by scikit-survival; NaN if follow-up ends before the horizon."""
    times, surv = kaplan_meier_estimator(event, time)
    if horizon > times[-1] and surv[-1] > 0:
        return np.nan
    k = np.searchsorted(times, horizon, side="right")
    return 1.0 if k == 0 else float(surv[k - 1])


def _survival_nb(time, event, risk, horizon, pt) -> np.ndarray:
    n = time.size
    out = np.empty(pt.size)
    cache: dict[int, float] = {}  # the treated group is fixed by its size (risk >= pt is nested)
    for k, p in enumerate(pt):
        treated = risk >= p
        n_treated = int(treated.sum())
        if n_treated == 0:
            out[k] = 0.0  # nobody treated: no benefit, no harm
            continue
        if n_treated not in cache:
            cache[n_treated] = _km_at(time[treated], event[treated], horizon)
        s = cache[n_treated]
        share = n_treated / n
        # true positives: events by t among the treated; false positives: treated and event-free
        out[k] = (1 - s) * share - s * share * p / (1 - p)
    return out


def survival_net_benefit(time, event, risk, horizon: float, thresholds=None) -> np.ndarray:
    """Net benefit at ``horizon`` of treating patients whose predicted risk ``1 - S(t)`` >= pt.

    Vickers et al. (2008): with ``S_h`` the Kaplan-Meier survival at ``horizon`` in the treated
    group and ``P(h)`` its share of patients,
    ``NB = (1 - S_h) P(h) - S_h P(h) pt / (1 - pt)``; 0 when nobody is treated. Treat-all uses
    the Kaplan-Meier estimate of all patients. Returns an array aligned with ``thresholds``; NaN
    at thresholds whose treated group is followed for less than ``horizon`` (and is not empty of
    survivors), and everywhere if no patient has complete data.
    """
    pt = _thresholds(thresholds)
    time, event, risk = _survival_inputs(time, event, risk)
    if time.size == 0:
        return np.full(pt.size, np.nan)
    return _survival_nb(time, event, risk, float(horizon), pt)


def _curves(
    models: list[str],
    pt: np.ndarray,
    compute: Callable[[np.ndarray], np.ndarray],
    n: int,
    n_boot: int,
    seed: int,
    alpha: float,
) -> pd.DataFrame:
    """Tidy table of ``compute(indices) -> (len(models), len(pt))`` with bootstrap percentiles."""
    est = compute(np.arange(n))
    lo = hi = np.full(est.shape, np.nan)
    if n_boot > 0 and n > 0:
        draws = _bootstrap_draws(lambda i: compute(i).ravel(), n, n_boot, seed)
        bounds = np.array([_percentile(draws[:, j], alpha) for j in range(draws.shape[1])])
        lo, hi = bounds[:, 0].reshape(est.shape), bounds[:, 1].reshape(est.shape)
    frames = [
        pd.DataFrame(
            {
                "threshold": pt,
                "model": name,
                "net_benefit": est[m],
                "ci_lower": lo[m],
                "ci_upper": hi[m],
            }
        )
        for m, name in enumerate(models)
    ]
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def _model_names(predictions: Mapping) -> list[str]:
    names = list(predictions)
    clash = {TREAT_ALL, TREAT_NONE} & set(names)
    if clash:
        raise ValueError(f"model names {sorted(clash)} are reserved for the reference strategies")
    return names


def decision_curve(
    y,
    predictions: Mapping[str, np.ndarray],
    thresholds=None,
    *,
    n_boot: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Decision curves of binary predictions plus treat-all and treat-none.

    ``predictions`` maps a model name to predicted risks aligned with ``y`` (patients with a
    missing outcome or any missing prediction are dropped, so all curves use the same patients).
    Returns one row per (threshold, model) with columns :data:`COLUMNS`; the models are those of
    ``predictions`` followed by :data:`TREAT_ALL` and :data:`TREAT_NONE`. With ``n_boot > 0`` the
    CI columns are percentile bootstrap intervals (patients resampled, the same resamples for
    every model and threshold; seeded); otherwise they are NaN.
    """
    pt = _thresholds(thresholds)
    names = _model_names(predictions)
    y = np.asarray(y, dtype=float).ravel()
    risks = np.array([np.asarray(predictions[k], dtype=float).ravel() for k in names])
    risks = risks.reshape(len(names), y.size)
    ok = np.isfinite(y) & np.all(np.isfinite(risks), axis=0)
    y, risks = y[ok], risks[:, ok]

    def compute(i):
        rows = [net_benefit(y[i], r[i], pt) for r in risks]
        rows.append(net_benefit(y[i], np.ones(i.size), pt))
        rows.append(np.zeros(pt.size))
        return np.array(rows)

    return _curves([*names, TREAT_ALL, TREAT_NONE], pt, compute, y.size, n_boot, seed, alpha)


def survival_decision_curve(
    time,
    event,
    predictions: Mapping[str, np.ndarray],
    horizon: float,
    thresholds=None,
    *,
    n_boot: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Decision curves at ``horizon`` for survival predictions plus treat-all and treat-none.

    ``predictions`` maps a model name to predicted risks by the horizon, ``1 - S(horizon)``,
    aligned with ``time`` and ``event``. Net benefit by :func:`survival_net_benefit` (Vickers et
    al. 2008). Output and bootstrap as :func:`decision_curve`.
    """
    pt = _thresholds(thresholds)
    names = _model_names(predictions)
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event, dtype=float).ravel()
    risks = np.array([np.asarray(predictions[k], dtype=float).ravel() for k in names])
    risks = risks.reshape(len(names), time.size)
    ok = np.isfinite(time) & np.isfinite(event) & np.all(np.isfinite(risks), axis=0)
    time, event, risks = time[ok], event[ok].astype(bool), risks[:, ok]
    horizon = float(horizon)

    def compute(i):
        rows = [_survival_nb(time[i], event[i], r[i], horizon, pt) for r in risks]
        rows.append(_survival_nb(time[i], event[i], np.ones(i.size), horizon, pt))
        rows.append(np.zeros(pt.size))
        return np.array(rows)

    if time.size == 0:
        nan = np.full((len(names) + 2, pt.size), np.nan)
        return _curves([*names, TREAT_ALL, TREAT_NONE], pt, lambda i: nan, 0, 0, seed, alpha)
    return _curves([*names, TREAT_ALL, TREAT_NONE], pt, compute, time.size, n_boot, seed, alpha)
