"""Performance table in the long format of DESIGN.md section 4."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from hccfusion.cohort import Cohort, endpoint_target
from hccfusion.metrics import auc_ci, cindex_ci, cindex_uno_ci

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
