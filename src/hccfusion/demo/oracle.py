"""Oracle performance: how well the TRUE predictors discriminate the simulated outcomes.

This is the ceiling any model trained on the demo cohort can approach: the AUC of
``true_response_prob`` against ``response_3m`` and Harrell's C-index (Harrell et al., JAMA
1982;247:2543) of ``true_os_lp`` against overall survival.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lifelines.utils import concordance_index
from sklearn.metrics import roc_auc_score


def oracle_metrics(clinical: pd.DataFrame, truth: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per centre: ``auc`` (NaN without response labels), ``cindex``, ``n``."""
    df = clinical.merge(truth, on="patient_id")
    out: dict[str, dict[str, float]] = {}
    for centre, g in df.groupby("center", sort=True):
        y = pd.to_numeric(g["response_3m"], errors="coerce")
        ok = y.notna()
        auc = float("nan")
        if ok.any() and y[ok].nunique() == 2:
            auc = float(roc_auc_score(y[ok].astype(int), g.loc[ok, "true_response_prob"]))
        cidx = float(concordance_index(g["os_days"].astype(float), -g["true_os_lp"],
                                       g["os_event"].astype(int)))
        out[str(centre)] = {"auc": auc, "cindex": cidx, "n": int(len(g))}
    return out


def format_metrics(metrics: dict[str, dict[str, float]]) -> str:
    lines = ["| centre | n | oracle AUC (response) | oracle C-index (OS) |", "|---|---|---|---|"]
    for centre, m in metrics.items():
        auc = "n/a" if np.isnan(m["auc"]) else f"{m['auc']:.3f}"
        lines.append(f"| {centre} | {m['n']} | {auc} | {m['cindex']:.3f} |")
    return "\n".join(lines)
