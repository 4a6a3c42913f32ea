"""Calibration of predicted risks: binary outcomes, and survival at a fixed horizon.

Calibration asks whether predicted risks match observed frequencies (Van Calster B, Nieboer D,
Vergouwe Y, De Cock B, Pencina MJ, Steyerberg EW. A calibration hierarchy for risk models was
defined: from utopia to empirical data. J Clin Epidemiol 2016;74:167-76). Outputs are tidy:
``*_curve`` functions give one row per group of patients (the points of a calibration plot),
``*_summary`` functions give a one-row DataFrame of statistics.

Undefined cases (one class only, no events by the horizon, constant predictions, too few
patients, a fit that does not converge) give NaN rather than an error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from scipy import stats
from statsmodels.nonparametric.smoothers_lowess import lowess
from statsmodels.stats.proportion import proportion_confint

# One cleaning of survival inputs (complete rows, boolean events) for every metric module.
from hccfusion.metrics import MIN_PATIENTS, _survival_inputs

__all__ = [
    "CURVE_COLUMNS",
    "binary_calibration_curve",
    "binary_calibration_smooth",
    "binary_calibration_summary",
    "calibration_intercept",
    "calibration_slope",
    "hosmer_lemeshow",
    "integrated_calibration_index",
    "survival_calibration_curve",
    "survival_calibration_slope",
    "survival_calibration_summary",
    "survival_ici",
]

#: Columns of the calibration curves: one row per quantile group of predictions.
CURVE_COLUMNS = [
    "group",
    "n",
    "n_events",
    "predicted",
    "observed",
    "observed_lower",
    "observed_upper",
]

# Predicted probabilities are kept this far from 0 and 1 before logit / log(-log) transforms.
_EPS = 1e-8
_NAN3 = (np.nan, np.nan, np.nan)


def _binary_inputs(y, prob):
    y = np.asarray(y, dtype=float).ravel()
    prob = np.asarray(prob, dtype=float).ravel()
    ok = np.isfinite(y) & np.isfinite(prob)
    return y[ok].astype(int), prob[ok]


def _defined(y, prob) -> bool:
    return y.size >= MIN_PATIENTS and 0 < y.sum() < y.size


def _logit(p):
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _quantile_groups(x, n_groups: int) -> np.ndarray:
    """Group labels 1..G by quantiles of ``x``; tied values stay together, so G <= n_groups.

    Groups are right-closed intervals between distinct quantiles, as ``pandas.qcut`` with
    ``duplicates="drop"``, but constant ``x`` gives one group instead of missing labels.
    """
    edges = np.unique(np.quantile(x, np.linspace(0, 1, int(n_groups) + 1)))
    return np.searchsorted(edges[1:-1], x, side="left") + 1


def _glm_logit(y, exog, offset=None, alpha=0.05):
    """Logistic regression by statsmodels; returns (params, conf_int) or None if it fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # separation / non-convergence: checked below
            res = sm.GLM(y, exog, family=sm.families.Binomial(), offset=offset).fit()
    except (ValueError, np.linalg.LinAlgError, sm.tools.sm_exceptions.PerfectSeparationError):
        return None
    params, ci = np.asarray(res.params), np.asarray(res.conf_int(alpha))
    if not (res.converged and np.all(np.isfinite(params)) and np.all(np.isfinite(ci))):
        return None
    return params, ci


# --- binary outcome ---------------------------------------------------------------------------


def calibration_intercept(y, prob, alpha: float = 0.05) -> tuple[float, float, float]:
    """Calibration-in-the-large: intercept of ``logit P(y=1) = a + logit(p)`` (slope fixed at 1).

    Cox DR. Two further applications of a model for binary regression. Biometrika
    1958;45:562-5; Van Calster et al. (2016). Fitted by statsmodels GLM with ``logit(p)`` as an
    offset; Wald CI. 0 is ideal; > 0 means risks are under-estimated on average.
    Returns ``(estimate, lower, upper)``; NaN triple if undefined (one class, fewer than
    :data:`~hccfusion.metrics.MIN_PATIENTS` patients).
    """
    y, prob = _binary_inputs(y, prob)
    if not _defined(y, prob):
        return _NAN3
    fit = _glm_logit(y, np.ones((y.size, 1)), offset=_logit(prob), alpha=alpha)
    if fit is None:
        return _NAN3
    params, ci = fit
    return float(params[0]), float(ci[0, 0]), float(ci[0, 1])


def calibration_slope(y, prob, alpha: float = 0.05) -> tuple[float, float, float]:
    """Calibration slope: ``b`` of the logistic recalibration ``logit P(y=1) = a + b logit(p)``.

    Cox (1958); Van Calster et al. (2016). Fitted by statsmodels GLM; Wald CI. 1 is ideal;
    < 1 means predictions are too extreme (overfitting), > 1 too moderate.
    Returns ``(estimate, lower, upper)``; NaN triple if undefined (one class, constant
    predictions, separation, fewer than :data:`~hccfusion.metrics.MIN_PATIENTS` patients).
    """
    y, prob = _binary_inputs(y, prob)
    lp = _logit(prob)
    if not _defined(y, prob) or np.ptp(lp) == 0:
        return _NAN3
    fit = _glm_logit(y, sm.add_constant(lp, has_constant="add"), alpha=alpha)
    if fit is None:
        return _NAN3
    params, ci = fit
    return float(params[1]), float(ci[1, 0]), float(ci[1, 1])


def hosmer_lemeshow(y, prob, n_groups: int = 10) -> tuple[float, int, float]:
    """Hosmer-Lemeshow goodness-of-fit statistic over quantile groups of predicted risk.

    Hosmer DW, Lemeshow S. Goodness of fit tests for the multiple logistic regression model.
    Commun Stat Theory Methods 1980;9:1043-69. ``H = sum_g (O_g - E_g)^2 / (E_g (1 - E_g / n_g))``
    compared with chi-square on ``G - 2`` degrees of freedom (G groups; tied predictions share a
    group, so G may be below ``n_groups``). For external validation ``G`` degrees of freedom are
    sometimes argued; ``G - 2`` is the convention kept here. statsmodels has no Hosmer-Lemeshow
    test, so the few lines are written here.

    Returns ``(statistic, df, p_value)``; NaN statistic and p (df 0) if undefined (one class,
    fewer than 3 groups).
    """
    y, prob = _binary_inputs(y, prob)
    if not _defined(y, prob):
        return np.nan, 0, np.nan
    prob = np.clip(prob, _EPS, 1 - _EPS)
    frame = pd.DataFrame({"g": _quantile_groups(prob, n_groups), "y": y, "p": prob})
    agg = frame.groupby("g").agg(n=("y", "size"), o=("y", "sum"), e=("p", "sum"))
    dof = len(agg) - 2
    if dof < 1:
        return np.nan, 0, np.nan
    stat = float(np.sum((agg.o - agg.e) ** 2 / (agg.e * (1 - agg.e / agg.n))))
    return stat, int(dof), float(stats.chi2.sf(stat, dof))


def _smooth_observed(y, prob, frac):
    # Local-linear lowess without robustness iterations (it=0): with a 0/1 outcome the robustness
    # weights would down-weight every event as an outlier. delta skips near-identical x for speed.
    delta = 0.005 * float(np.ptp(prob))
    fitted = lowess(y, prob, frac=frac, it=0, delta=delta, return_sorted=False)
    return np.clip(fitted, 0.0, 1.0)


def integrated_calibration_index(y, prob, frac: float = 0.75) -> dict[str, float]:
    """Integrated calibration index (ICI) and the E50, E90 and Emax of the smoothed curve.

    Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI) and related metrics for
    quantifying the calibration of logistic regression models. Stat Med 2019;38:4051-65.
    The observed risk is the lowess smooth of ``y`` on ``p`` (statsmodels, local linear, span
    ``frac``; 0.75 as R's ``loess`` default used by the paper); ICI is the mean of
    ``|smooth(p) - p|`` over patients, E50/E90 its median and 90th percentile, Emax its maximum.
    Returns a dict with keys ``ici``, ``e50``, ``e90``, ``emax`` (NaN if undefined).
    """
    y, prob = _binary_inputs(y, prob)
    keys = ("ici", "e50", "e90", "emax")
    if not _defined(y, prob) or np.ptp(prob) == 0:
        return dict.fromkeys(keys, np.nan)
    diff = np.abs(_smooth_observed(y, prob, frac) - prob)
    return dict(
        zip(
            keys,
            (
                float(diff.mean()),
                float(np.median(diff)),
                float(np.percentile(diff, 90)),
                float(diff.max()),
            ),
            strict=True,
        )
    )


def binary_calibration_curve(
    y, prob, n_groups: int = 10, ci_method: str = "wilson", alpha: float = 0.05
) -> pd.DataFrame:
    """Observed versus predicted risk by quantile groups of predicted risk.

    One row per group (columns :data:`CURVE_COLUMNS`, groups numbered by increasing predicted
    risk): ``predicted`` is the mean predicted risk, ``observed`` the event fraction with a
    ``1 - alpha`` interval from statsmodels' ``proportion_confint`` (``ci_method`` ``"wilson"``:
    Wilson 1927, the default; ``"beta"``: Clopper-Pearson exact). Empty if there are fewer than
    :data:`~hccfusion.metrics.MIN_PATIENTS` patients.
    """
    y, prob = _binary_inputs(y, prob)
    if y.size < MIN_PATIENTS:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    frame = pd.DataFrame({"group": _quantile_groups(prob, n_groups), "y": y, "p": prob})
    agg = (
        frame.groupby("group")
        .agg(n=("y", "size"), n_events=("y", "sum"), predicted=("p", "mean"))
        .reset_index()
    )
    agg["observed"] = agg.n_events / agg.n
    lo, hi = proportion_confint(agg.n_events, agg.n, alpha=alpha, method=ci_method)
    agg["observed_lower"], agg["observed_upper"] = np.asarray(lo), np.asarray(hi)
    return agg[CURVE_COLUMNS]


def binary_calibration_smooth(y, prob, frac: float = 0.75, n_points: int = 100) -> pd.DataFrame:
    """The smoothed calibration curve of :func:`integrated_calibration_index` for plotting.

    Columns ``predicted``, ``observed``: the lowess smooth evaluated at up to ``n_points``
    predicted risks spread over their quantiles. Empty if undefined.
    """
    y, prob = _binary_inputs(y, prob)
    if not _defined(y, prob) or np.ptp(prob) == 0:
        return pd.DataFrame(columns=["predicted", "observed"])
    fitted = _smooth_observed(y, prob, frac)
    order = np.argsort(prob, kind="stable")
    pick = np.unique(np.linspace(0, prob.size - 1, min(n_points, prob.size)).round().astype(int))
    return pd.DataFrame({"predicted": prob[order][pick], "observed": fitted[order][pick]})


def binary_calibration_summary(
    y, prob, n_groups: int = 10, alpha: float = 0.05, frac: float = 0.75
) -> pd.DataFrame:
    """One row of calibration statistics for a binary outcome.

    Columns: ``n, n_events``; ``intercept, intercept_lower, intercept_upper``
    (:func:`calibration_intercept`); ``slope, slope_lower, slope_upper`` (:func:`calibration_slope`);
    ``hl_statistic, hl_df, hl_p`` (:func:`hosmer_lemeshow`); ``ici, e50, e90, emax``
    (:func:`integrated_calibration_index`).
    """
    yc, pc = _binary_inputs(y, prob)
    row = {"n": int(yc.size), "n_events": int(yc.sum())}
    row.update(
        zip(
            ("intercept", "intercept_lower", "intercept_upper"),
            calibration_intercept(yc, pc, alpha),
            strict=True,
        )
    )
    row.update(
        zip(("slope", "slope_lower", "slope_upper"), calibration_slope(yc, pc, alpha), strict=True)
    )
    row.update(
        zip(("hl_statistic", "hl_df", "hl_p"), hosmer_lemeshow(yc, pc, n_groups), strict=True)
    )
    row.update(integrated_calibration_index(yc, pc, frac))
    return pd.DataFrame([row])


# --- survival at a fixed horizon -------------------------------------------------------------


def _truncate(time, event, horizon):
    """Follow-up administratively censored at the horizon: only what happens by t counts."""
    return np.minimum(time, horizon), event & (time <= horizon)


def _cloglog_risk(surv):
    """Complementary log-log of predicted risk: ``log(-log S(t))``, the Cox model's scale."""
    s = np.clip(surv, _EPS, 1 - _EPS)
    return np.log(-np.log(s))


def _km_at(time, event, horizon, alpha):
    """Kaplan-Meier S(t) with its (log(-log), lifelines' default) interval; NaN beyond follow-up."""
    kmf = KaplanMeierFitter(alpha=alpha).fit(time, event)
    s = float(kmf.survival_function_at_times(horizon).iloc[0])
    if horizon > time.max() and s > 0:  # KM is undefined after the last follow-up time
        return np.nan, np.nan, np.nan
    ci = kmf.confidence_interval_survival_function_.loc[:horizon].iloc[-1]
    return s, float(ci.iloc[0]), float(ci.iloc[1])


def survival_calibration_curve(
    time, event, surv_prob, horizon: float, n_groups: int = 5, alpha: float = 0.05
) -> pd.DataFrame:
    """Observed versus predicted survival at ``horizon`` by quantile groups of predictions.

    Patients are grouped by quantiles of their predicted probability ``surv_prob`` of being
    event-free at ``horizon`` (groups numbered by increasing predicted survival). Per group,
    ``predicted`` is the mean predicted survival and ``observed`` the Kaplan-Meier (1958)
    estimate at ``horizon`` (lifelines) with its ``1 - alpha`` log(-log) interval; ``n_events``
    counts events by ``horizon``. Columns :data:`CURVE_COLUMNS`. ``observed`` is NaN for a group
    whose follow-up ends before ``horizon``; empty if there are fewer than
    :data:`~hccfusion.metrics.MIN_PATIENTS` patients.
    """
    time, event, surv = _survival_inputs(time, event, surv_prob)
    if time.size < MIN_PATIENTS:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    groups = _quantile_groups(surv, n_groups)
    rows = []
    for g in np.unique(groups):
        m = groups == g
        obs, lo, hi = _km_at(time[m], event[m], horizon, alpha)
        rows.append(
            {
                "group": int(g),
                "n": int(m.sum()),
                "n_events": int(np.sum(event[m] & (time[m] <= horizon))),
                "predicted": float(surv[m].mean()),
                "observed": obs,
                "observed_lower": lo,
                "observed_upper": hi,
            }
        )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def _cox(frame, alpha, penalizer=0.0):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings: checked through finiteness
            return CoxPHFitter(alpha=alpha, penalizer=penalizer).fit(frame, "T", "E")
    except (ConvergenceError, ValueError, np.linalg.LinAlgError):
        return None


def survival_calibration_slope(
    time, event, surv_prob, horizon: float, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Calibration slope at ``horizon``: Cox regression on ``log(-log S_hat(t))``.

    Crowson CS, Atkinson EJ, Therneau TM. Assessing calibration of prognostic risk scores. Stat
    Methods Med Res 2016;25:1692-706; Austin PC, Harrell FE, van Klaveren D. Graphical
    calibration curves and the integrated calibration index (ICI) for survival models. Stat Med
    2020;39:2714-42. With follow-up censored at ``horizon``, a Cox model (lifelines) is fitted
    with the complementary log-log of the predicted risk ``1 - S_hat(t)`` as the only covariate.
    If ``S(t | x) = S0(t)^exp(lp)`` is right, ``log(-log S_hat) = const + lp`` and the
    coefficient is 1; < 1 means predictions too extreme. Wald CI.

    Returns ``(estimate, lower, upper)``; NaN triple if there is no event by ``horizon``,
    predictions are constant, fewer than :data:`~hccfusion.metrics.MIN_PATIENTS` patients, or the
    fit fails.
    """
    time, event, surv = _survival_inputs(time, event, surv_prob)
    t, e = _truncate(time, event, horizon)
    x = _cloglog_risk(surv)
    if time.size < MIN_PATIENTS or e.sum() == 0 or np.ptp(x) == 0:
        return _NAN3
    fit = _cox(pd.DataFrame({"T": t, "E": e, "x": x}), alpha)
    if fit is None:
        return _NAN3
    est = float(fit.params_["x"])
    lo, hi = (float(v) for v in fit.confidence_intervals_.loc["x"])
    if not np.all(np.isfinite([est, lo, hi])):
        return _NAN3
    return est, lo, hi


def _rcs3(x):
    """Restricted cubic spline basis with 3 knots at the 10/50/90th percentiles (Harrell).

    Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015, section 2.4.5: linear
    beyond the outer knots; the non-linear term is divided by ``(k3 - k1)^2`` to keep its scale
    near that of x. Written here because lifelines and statsmodels take spline bases only through
    formula strings, which would hide the knots.
    """
    k1, k2, k3 = np.percentile(x, [10, 50, 90])
    if not k1 < k2 < k3:
        return None

    def cube(k):
        return np.clip(x - k, 0, None) ** 3

    nonlin = cube(k1) - cube(k2) * (k3 - k1) / (k3 - k2) + cube(k3) * (k2 - k1) / (k3 - k2)
    return np.column_stack([x, nonlin / (k3 - k1) ** 2])


def survival_ici(time, event, surv_prob, horizon: float) -> dict[str, float]:
    """Integrated calibration index of survival predictions at ``horizon``.

    Austin, Harrell & van Klaveren (2020): a Cox model (lifelines; follow-up censored at the
    horizon) of the outcome on a 3-knot restricted cubic spline of ``log(-log S_hat(t))`` gives a
    smoothed observed risk ``1 - S_cal(t | x)`` per patient; ICI is the mean of
    ``|observed - predicted risk|``, E50 and E90 its median and 90th percentile.
    Returns a dict with keys ``ici``, ``e50``, ``e90``; NaN where not feasible: fewer than 10
    events by the horizon (a spline fit is not supported by fewer), fewer than 3 distinct knot
    values, or a failed fit.
    """
    keys = ("ici", "e50", "e90")
    time, event, surv = _survival_inputs(time, event, surv_prob)
    t, e = _truncate(time, event, horizon)
    if time.size < MIN_PATIENTS or e.sum() < 10:
        return dict.fromkeys(keys, np.nan)
    basis = _rcs3(_cloglog_risk(surv))
    if basis is None:
        return dict.fromkeys(keys, np.nan)
    frame = pd.DataFrame({"T": t, "E": e, "x1": basis[:, 0], "x2": basis[:, 1]})
    fit = _cox(frame, alpha=0.05)
    if fit is None or not np.all(np.isfinite(fit.params_)):
        return dict.fromkeys(keys, np.nan)
    cal = fit.predict_survival_function(frame[["x1", "x2"]], times=[horizon]).to_numpy().ravel()
    diff = np.abs((1 - cal) - (1 - surv))
    return dict(
        zip(
            keys,
            (float(diff.mean()), float(np.median(diff)), float(np.percentile(diff, 90))),
            strict=True,
        )
    )


def survival_calibration_summary(
    time, event, surv_prob, horizon: float, alpha: float = 0.05
) -> pd.DataFrame:
    """One row of calibration statistics for survival predictions at ``horizon``.

    Columns: ``horizon, n, n_events`` (events by the horizon); calibration-in-the-large as
    ``predicted_risk`` (mean of ``1 - S_hat(t)``), ``observed_risk`` (``1 -`` Kaplan-Meier at t)
    and their ratio ``oe_ratio`` (observed / expected, Crowson et al. 2016; NaN if the follow-up
    ends before t); ``slope, slope_lower, slope_upper`` (:func:`survival_calibration_slope`);
    ``ici, e50, e90`` (:func:`survival_ici`).
    """
    time, event, surv = _survival_inputs(time, event, surv_prob)
    row = {
        "horizon": float(horizon),
        "n": int(time.size),
        "n_events": int(np.sum(event & (time <= horizon))),
    }
    if time.size >= MIN_PATIENTS:
        observed = 1 - _km_at(time, event, horizon, alpha)[0]
        predicted = float(np.mean(1 - surv))
    else:
        observed = predicted = np.nan
    row.update(
        predicted_risk=predicted,
        observed_risk=observed,
        oe_ratio=observed / predicted if predicted > 0 else np.nan,
    )
    row.update(
        zip(
            ("slope", "slope_lower", "slope_upper"),
            survival_calibration_slope(time, event, surv, horizon, alpha),
            strict=True,
        )
    )
    row.update(survival_ici(time, event, surv, horizon))
    return pd.DataFrame([row])
