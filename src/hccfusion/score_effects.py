"""Effect of a score per unit: odds ratio for a binary outcome, hazard ratio for survival.

Seed 002 reports its GTR-ITH score as "OR 34.39 for response" and "HR 0.63 for overall survival"
per score unit; seeds 000 and 003 report existing clinical scores the same way. The score is
frozen (computed by the models fitted on training patients); only the association is estimated in
each cohort: logistic regression (statsmodels, Wald interval) and Cox regression (lifelines,
Efron ties, Wald interval). The training cohort's association is apparent (the score was fitted
on those patients) and is labelled ``train`` rather than ``train_cv``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning

COLUMNS = ["recipe", "endpoint", "component", "cohort", "outcome", "measure", "estimate",
           "ci_lower", "ci_upper", "p", "n", "n_events", "note"]


def score_values(fitted, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-patient raw scores of the components that are one score: the composite score of a
    ``fusion: composite`` recipe and each existing-score comparator (its values with the
    training median for missing ones)."""
    from sklearn.pipeline import Pipeline

    from hccfusion.models.comparators import ScoreModel

    out = {}
    for name, est in fitted.components.items():
        if isinstance(est, Pipeline) and "composite" in est.named_steps:
            out[name] = np.asarray(est[:-1].transform(frame), dtype=float)[:, 0]
        elif isinstance(est, ScoreModel):
            out[name] = est.score(frame)
    return out


def odds_ratio(score, y, *, alpha: float = 0.05) -> tuple[float, float, float, float, str]:
    """(OR per unit, lower, upper, Wald p, note) of a logistic regression of ``y`` on ``score``."""
    import statsmodels.api as sm

    x, y = np.asarray(score, dtype=float), np.asarray(y, dtype=float)
    if len(np.unique(y)) < 2 or np.ptp(x) == 0:
        return np.nan, np.nan, np.nan, np.nan, "one outcome class or a constant score"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.Logit(y, sm.add_constant(x)).fit(disp=0, maxiter=100)
    except Exception as exc:  # perfect separation, singular matrix
        return np.nan, np.nan, np.nan, np.nan, f"not estimable: {type(exc).__name__}"
    # Separation drives the coefficient off to infinity without an exception in recent
    # statsmodels: an OR beyond e^30 per unit is not an estimate.
    if (not fit.mle_retvals.get("converged", True) or not np.isfinite(fit.bse[1])
            or abs(fit.params[1]) > 30):
        return np.nan, np.nan, np.nan, np.nan, "not estimable: separation"
    lo, hi = fit.conf_int(alpha)[1]
    return (float(np.exp(fit.params[1])), float(np.exp(lo)), float(np.exp(hi)),
            float(fit.pvalues[1]), "")


def hazard_ratio(score, time, event, *, alpha: float = 0.05
                 ) -> tuple[float, float, float, float, str]:
    """(HR per unit, lower, upper, Wald p, note) of a Cox regression on ``score``."""
    frame = pd.DataFrame({"s": np.asarray(score, float), "t": np.asarray(time, float),
                          "e": np.asarray(event, float)})
    if frame.e.sum() == 0 or np.ptp(frame.s) == 0:
        return np.nan, np.nan, np.nan, np.nan, "no event or a constant score"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            cph = CoxPHFitter(alpha=alpha).fit(frame, duration_col="t", event_col="e")
    except (ConvergenceError, ConvergenceWarning) as exc:
        return np.nan, np.nan, np.nan, np.nan, f"not estimable: {type(exc).__name__}"
    lo, hi = cph.confidence_intervals_.loc["s"].iloc[:2]
    return (float(np.exp(cph.params_["s"])), float(np.exp(lo)), float(np.exp(hi)),
            float(cph.summary.loc["s", "p"]), "")


def effect_rows(recipe: str, endpoint: str, scores: Mapping[str, pd.Series],
                cohorts: pd.Series, clinical: pd.DataFrame, endpoints: Mapping[str, Mapping],
                *, alpha: float = 0.05) -> pd.DataFrame:
    """Association of each score (``{component: values indexed by patient}``) with every
    configured endpoint, per cohort (``cohorts``: patient -> train / internal / external).
    ``clinical`` is indexed by patient and holds the outcome columns. One row per component x
    cohort x outcome (:data:`COLUMNS`); times are in the clinical table's unit."""
    rows = []
    for component, values in scores.items():
        for cohort in ("train", "internal", "external"):
            ids = cohorts.index[cohorts == cohort].intersection(values.index)
            if not len(ids):
                continue
            for outcome, ep in endpoints.items():
                data = clinical.loc[ids]
                base = {"recipe": recipe, "endpoint": endpoint, "component": component,
                        "cohort": cohort, "outcome": outcome}
                if ep["type"] == "binary":
                    y = pd.to_numeric(data[ep["event"]], errors="coerce")
                    ok = y.notna()
                    est = odds_ratio(values.loc[ids][ok], y[ok], alpha=alpha)
                    measure, n_events = "odds_ratio", int(y[ok].sum())
                else:
                    t = pd.to_numeric(data[ep["time"]], errors="coerce")
                    e = pd.to_numeric(data[ep["event"]], errors="coerce")
                    ok = t.notna() & e.notna()
                    est = hazard_ratio(values.loc[ids][ok], t[ok], e[ok], alpha=alpha)
                    measure, n_events = "hazard_ratio", int(e[ok].sum())
                note = est[4] or ("apparent: the score was fitted on these patients"
                                  if cohort == "train" else "")
                rows.append({**base, "measure": measure,
                             **dict(zip(("estimate", "ci_lower", "ci_upper", "p"), est[:4],
                                        strict=True)),
                             "n": int(ok.sum()), "n_events": n_events, "note": note})
    return pd.DataFrame(rows, columns=COLUMNS)
