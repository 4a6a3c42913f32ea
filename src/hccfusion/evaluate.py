"""Performance table in the long format of DESIGN.md section 4."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hccfusion.cohort import Cohort, endpoint_target
from hccfusion.metrics import auc_ci, cindex_ci, cindex_uno_ci

log = logging.getLogger(__name__)

COLUMNS = [
    "recipe", "component", "endpoint", "cohort", "metric",
    "estimate", "ci_lower", "ci_upper", "n", "n_events",
]
COHORT_ORDER = ("train_cv", "internal", "external")


def _fields(y):
    return y.dtype.names[0], y.dtype.names[1]


def performance_rows(
    recipe: str,
    endpoint_name: str,
    endpoint_cfg: Mapping,
    predictions_by_cohort: Mapping[str, Mapping[str, np.ndarray]],
    targets_by_cohort: Mapping[str, np.ndarray],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    train_y: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per (component, cohort, metric).

    ``predictions_by_cohort[cohort][component]`` are scores aligned with
    ``targets_by_cohort[cohort]`` (binary: 0/1 array; survival: scikit-survival structured array).
    Binary endpoints get ``auc`` (DeLong CI); survival endpoints get ``cindex`` (Harrell, bootstrap
    CI) and ``cindex_uno`` (Uno, censoring distribution and tau from ``train_y``, by default the
    ``train_cv`` target). ``n_events`` counts positives (binary) or events (survival).
    """
    kind = endpoint_cfg["type"]
    if kind == "survival" and train_y is None:
        train_y = targets_by_cohort.get("train_cv")
    rows = []
    cohorts = [c for c in COHORT_ORDER if c in predictions_by_cohort]
    cohorts += [c for c in predictions_by_cohort if c not in COHORT_ORDER]
    for cohort in cohorts:
        y = targets_by_cohort[cohort]
        for component, score in predictions_by_cohort[cohort].items():
            score = np.asarray(score, dtype=float)
            if len(score) != len(y):
                raise ValueError(
                    f"{component}/{cohort}: {len(score)} predictions for {len(y)} targets"
                )
            base = {"recipe": recipe, "component": component, "endpoint": endpoint_name,
                    "cohort": cohort, "n": int(len(y))}
            if kind == "binary":
                y_arr = np.asarray(y, dtype=int)
                est = auc_ci(y_arr, score, alpha=alpha)
                rows.append({**base, "metric": "auc", "n_events": int(y_arr.sum()),
                             **dict(zip(("estimate", "ci_lower", "ci_upper"), est, strict=True))})
            else:
                ev, tm = _fields(y)
                n_events = int(y[ev].sum())
                harrell = cindex_ci(y[tm], y[ev], score, n_boot=n_boot, seed=seed, alpha=alpha)
                if train_y is not None:
                    tev, ttm = _fields(train_y)
                    uno = cindex_uno_ci(train_y[ttm], train_y[tev], y[tm], y[ev], score,
                                        n_boot=n_boot, seed=seed, alpha=alpha)
                else:
                    uno = (np.nan, np.nan, np.nan)
                for metric, est in (("cindex", harrell), ("cindex_uno", uno)):
                    rows.append({**base, "metric": metric, "n_events": n_events,
                                 **dict(zip(("estimate", "ci_lower", "ci_upper"), est,
                                            strict=True))})
    return pd.DataFrame(rows, columns=COLUMNS)


def cohort_predictions(fitted, cohort: Cohort, endpoint_cfg: Mapping, *, with_index=False):
    """Scores and targets of a fitted recipe for ``train_cv``, ``internal`` and ``external``.

    Returns ``(predictions_by_cohort, targets_by_cohort)`` ready for :func:`performance_rows`.
    The ``train_cv`` target is the true training outcome even under the permutation audit, so
    the negative control is judged against reality. Cohorts without patients are left out.
    ``with_index=True`` adds a third dict: the patient ids each cohort's scores belong to.
    """
    preds: dict[str, dict[str, np.ndarray]] = {}
    targets: dict[str, np.ndarray] = {}
    index: dict[str, pd.Index] = {}
    if fitted.train_cv:
        tgt = endpoint_target(cohort.data.loc[fitted.train_index], endpoint_cfg)
        preds["train_cv"] = dict(fitted.train_cv)
        targets["train_cv"] = tgt.y
        index["train_cv"] = fitted.train_index
    for name in ("internal", "external"):
        rows = cohort.rows(name)
        if rows.empty:
            continue
        tgt = endpoint_target(rows, endpoint_cfg)
        if len(tgt.index) == 0:
            continue
        preds[name] = fitted.predict(rows.loc[tgt.index])
        targets[name] = tgt.y
        index[name] = tgt.index
    return (preds, targets, index) if with_index else (preds, targets)


# --- everything a reviewer asks for, from the per-patient predictions table --------------------
#: Comparisons reported: the late fusion against every other component, early fusion against
#: each single block (paired: same patients, same resamples).
COMPARISON_COLUMNS = [
    "recipe", "endpoint", "cohort", "component", "reference", "metric",
    "difference", "ci_lower", "ci_upper", "p", "n", "n_events",
]
SINGLE_BLOCKS = ("clinical", "radiomics", "deep")


def surv_column(months: float) -> str:
    """Column of the predictions table holding survival probabilities at ``months``."""
    return f"surv_{months:g}m"


def _comparison_pairs(components: Sequence[str]) -> list[tuple[str, str]]:
    pairs = [("fusion", c) for c in components if c != "fusion"] if "fusion" in components else []
    if "early_fusion" in components:
        pairs += [("early_fusion", c) for c in components if c in SINGLE_BLOCKS]
    return pairs


def _row(base: Mapping, metric: str, est, n_events: int) -> dict:
    return {**base, "metric": metric, "n_events": n_events,
            **dict(zip(("estimate", "ci_lower", "ci_upper"), (float(v) for v in est),
                       strict=True))}


def evaluate_predictions(
    recipe: str,
    endpoint: str,
    kind: str,
    predictions: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    horizons: Sequence[float] = (6, 12, 24, 36),
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    calibration_groups: int = 10,
) -> dict[str, pd.DataFrame]:
    """All validation statistics of one recipe x endpoint from its per-patient predictions.

    ``predictions`` has one row per patient x cohort x component with ``patient_id, cohort,
    component, score`` (binary: probability; survival: risk, higher = worse) and, for survival,
    ``surv_<m>m`` columns (predicted probability of being event-free at ``m`` months, on a grid
    that includes ``horizons``). ``outcomes`` is indexed by patient id with ``y`` (binary) or
    ``time`` (months) and ``event``. Censoring weights (Uno's C, time-dependent AUC, Brier) come
    from the ``train_cv`` patients, whose scores are out of fold.

    Returns tables ``performance`` (:data:`COLUMNS`; binary: ``auc``, ``brier``,
    ``calibration_intercept``, ``calibration_slope``; survival: ``cindex``, ``cindex_uno``,
    ``tdauc_<m>m``, ``brier_<m>m``, ``ibs`` over the monthly grid up to the last horizon within
    follow-up), ``comparisons`` (:data:`COMPARISON_COLUMNS`: DeLong AUC difference or paired
    bootstrap C-index difference, with p), ``calibration`` (grouped curves; survival per horizon),
    ``calibration_summary`` and ``decision`` (net benefit; survival at each horizon).
    """
    from hccfusion.decision_curve import decision_curve, survival_decision_curve

    cohorts = [c for c in COHORT_ORDER if c in set(predictions.cohort)]
    cohorts += [c for c in dict.fromkeys(predictions.cohort) if c not in cohorts]
    scores = {c: predictions[predictions.cohort == c].pivot(
        index="patient_id", columns="component", values="score") for c in cohorts}
    components = list(dict.fromkeys(predictions.component))
    survival = kind == "survival"
    targets, preds = {}, {}
    for cohort in cohorts:
        out = outcomes.loc[scores[cohort].index]
        targets[cohort] = (
            np.array(list(zip(out.event.astype(bool), out.time.astype(float), strict=True)),
                     dtype=[("event", bool), ("time", float)])
            if survival else out.y.to_numpy(dtype=int)
        )
        preds[cohort] = {c: scores[cohort][c].to_numpy(dtype=float) for c in components}
    train_y = targets.get("train_cv")
    boot = {"n_boot": n_boot, "seed": seed, "alpha": alpha}
    perf = [performance_rows(recipe, endpoint, {"type": kind}, preds, targets, train_y=train_y,
                             **boot)]
    extra, comparisons, curves, summaries, decisions = [], [], [], [], []
    for cohort in cohorts:
        y = targets[cohort]
        ids = scores[cohort].index
        n_events = int(y["event"].sum()) if survival else int(y.sum())
        base = {"recipe": recipe, "endpoint": endpoint, "cohort": cohort, "n": int(len(y))}
        comparisons += _comparison_rows(base, y, preds[cohort], n_events, survival, **boot)
        if not survival:
            for comp in components:
                rows, curve, summary = _binary_component(
                    {**base, "component": comp}, y, preds[cohort][comp], n_events,
                    calibration_groups, **boot)
                extra += rows
                curves.append(curve)
                summaries.append(summary)
            decisions.append(decision_curve(y, preds[cohort]).assign(cohort=cohort,
                                                                     horizon=np.nan))
            continue
        sub = predictions[predictions.cohort == cohort].set_index(["component", "patient_id"])
        valid = {}
        for comp in components:
            surv = sub.loc[comp].loc[ids].filter(like="surv_")
            valid[comp] = _valid_probabilities(surv)
            if not valid[comp]:
                # A survival probability outside [0, 1] is a model failure: report no
                # probability-based number for this component rather than a meaningless one.
                log.warning("%s %s %s %s: survival probabilities outside [0, 1]; Brier, IBS, "
                            "calibration and decision curves left out", recipe, endpoint,
                            cohort, comp)
            rows, comp_curves, comp_summaries = _survival_component(
                {**base, "component": comp}, y, train_y, preds[cohort][comp],
                surv if valid[comp] else None, n_events, horizons, **boot)
            extra += rows
            curves += comp_curves
            summaries += comp_summaries
        for h in horizons:
            risks = {c: 1.0 - sub.loc[c].loc[ids, surv_column(h)].to_numpy(dtype=float)
                     for c in components if valid[c]}
            decisions.append(survival_decision_curve(y["time"], y["event"], risks, h)
                             .assign(cohort=cohort, horizon=h))
    perf.append(pd.DataFrame(extra, columns=COLUMNS))
    performance = pd.concat([p for p in perf if len(p)], ignore_index=True)
    tag = {"recipe": recipe, "endpoint": endpoint}

    def tagged(frames):
        return pd.concat(frames, ignore_index=True).assign(**tag) if frames else pd.DataFrame()

    return {
        "performance": performance[COLUMNS],
        "comparisons": pd.DataFrame(comparisons, columns=COMPARISON_COLUMNS),
        "calibration": tagged(curves),
        "calibration_summary": tagged(summaries),
        "decision": tagged(decisions),
    }


def _valid_probabilities(values) -> bool:
    values = np.asarray(values, dtype=float)
    return bool((np.isfinite(values) & (values >= 0) & (values <= 1)).all())


def _comparison_rows(base: Mapping, y, scores: Mapping, n_events: int, survival: bool, *,
                     n_boot: int, seed: int, alpha: float) -> list[dict]:
    """Paired comparisons of one cohort: DeLong AUC difference (binary) or paired-bootstrap
    Harrell C difference (survival), with CI and p."""
    from hccfusion.metrics import auc_compare, cindex_compare

    rows = []
    for a, b in _comparison_pairs(list(scores)):
        if survival:
            est = cindex_compare(y["time"], y["event"], scores[a], scores[b], n_boot=n_boot,
                                 seed=seed, alpha=alpha)
        else:
            est = auc_compare(y, scores[a], scores[b], alpha=alpha)
        rows.append({**base, "component": a, "reference": b,
                     "metric": "cindex" if survival else "auc", "n_events": n_events,
                     **dict(zip(("difference", "ci_lower", "ci_upper", "p"), est, strict=True))})
    return rows


def _binary_component(rbase: Mapping, y, prob, n_events: int, groups: int, *, n_boot: int,
                      seed: int, alpha: float):
    """Brier score and calibration of one component's probabilities in one cohort."""
    from hccfusion import calibration as cal
    from hccfusion.metrics import brier_binary_ci

    rows = [_row(rbase, "brier", brier_binary_ci(y, prob, n_boot, seed, alpha), n_events)]
    rows += [_row(rbase, metric, fn(y, prob, alpha=alpha), n_events)
             for metric, fn in (("calibration_intercept", cal.calibration_intercept),
                                ("calibration_slope", cal.calibration_slope))]
    where = {"cohort": rbase["cohort"], "component": rbase["component"]}
    curve = cal.binary_calibration_curve(y, prob, n_groups=groups, alpha=alpha)
    summary = cal.binary_calibration_summary(y, prob, n_groups=groups, alpha=alpha)
    return rows, curve.assign(**where, horizon=np.nan), summary.assign(**where)


def _survival_component(rbase: Mapping, y, train_y, risk, surv: pd.DataFrame | None,
                        n_events: int, horizons: Sequence[float], *, n_boot: int, seed: int,
                        alpha: float):
    """Time-dependent AUC, Brier score, IBS and calibration of one component in one cohort.

    ``surv`` holds the ``surv_<m>m`` columns; ``None`` (invalid probabilities) leaves every
    probability-based estimate NaN. The IBS integrates the monthly grid up to the last month
    inside both the evaluated and the training follow-up.
    """
    from hccfusion import calibration as cal
    from hccfusion.metrics import brier_ci, ibs_ci, td_auc_ci

    ipcw = (train_y["time"], train_y["event"], y["time"], y["event"])
    boot = {"n_boot": n_boot, "seed": seed, "alpha": alpha}
    tables = {"tdauc": td_auc_ci(*ipcw, risk, horizons, **boot)}
    nan3 = (np.nan, np.nan, np.nan)
    if surv is None:
        tables["brier"] = tables["tdauc"].assign(estimate=np.nan, ci_lower=np.nan,
                                                 ci_upper=np.nan)
        ibs = nan3
    else:
        at_h = surv[[surv_column(h) for h in horizons]].to_numpy(dtype=float)
        tables["brier"] = brier_ci(*ipcw, at_h, horizons, **boot)
        end = min(float(y["time"].max()), float(train_y["time"].max()))
        grid = [m for m in range(1, int(max(horizons)) + 1) if m < end]
        ibs = (ibs_ci(*ipcw, surv[[surv_column(m) for m in grid]].to_numpy(dtype=float), grid,
                      **boot) if len(grid) >= 2 else nan3)
    rows = [_row(rbase, f"{name}_{r.horizon:g}m", (r.estimate, r.ci_lower, r.ci_upper), n_events)
            for name, table in tables.items() for r in table.itertuples()]
    rows.append(_row(rbase, "ibs", ibs, n_events))
    if surv is None:
        return rows, [], []
    where = {"cohort": rbase["cohort"], "component": rbase["component"]}
    curves, summaries = [], []
    for h in horizons:
        s_h = surv[surv_column(h)].to_numpy(dtype=float)
        curves.append(cal.survival_calibration_curve(y["time"], y["event"], s_h, h, n_groups=5,
                                                     alpha=alpha).assign(**where, horizon=h))
        summaries.append(cal.survival_calibration_summary(y["time"], y["event"], s_h, h,
                                                          alpha=alpha).assign(**where))
    return rows, curves, summaries


def monthly_survival(survival: pd.DataFrame, horizons_months: Sequence[float],
                     time_unit: str) -> pd.DataFrame:
    """Wide ``surv_<m>m`` columns (m = 1 .. last horizon, and every horizon) per patient x cohort x
    component from the long survival table of :func:`hccfusion.recipes.recipe_details`.

    The long table holds each survival curve at the horizons and at every training event time;
    the curves are step functions that change only at training event times (Breslow and
    Kaplan-Meier baselines), so the value at month m is the value at the last listed time <= m.
    """
    from hccfusion.timeunits import to_months

    months = sorted({*range(1, int(np.ceil(max(horizons_months))) + 1),
                     *(float(h) for h in horizons_months)})
    long = survival.assign(month=to_months(survival.time.astype(float), time_unit))
    rows = []
    for key, curve in long.groupby(["patient_id", "cohort", "component"], sort=False):
        curve = curve.sort_values("month")
        pos = np.searchsorted(curve.month.to_numpy(), np.asarray(months) + 1e-9, side="right") - 1
        values = np.where(pos >= 0, curve.survival.to_numpy()[np.maximum(pos, 0)], 1.0)
        rows.append((*key, *values))
    return pd.DataFrame(rows, columns=["patient_id", "cohort", "component",
                                       *(surv_column(m) for m in months)])
