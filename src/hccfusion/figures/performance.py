"""Discrimination of every component across cohorts (seed 001, Figure 5D): the estimate of one
metric (C-index, AUC) with its 95 % CI, one row per component, one colour per cohort.

The estimates and intervals are those of ``results/tables/performance.tsv``
(:mod:`hccfusion.evaluate`): nothing is recomputed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hccfusion.figures.roc import ordered, series_colours

__all__ = ["plot_metric_comparison"]

_LABELS = {"cindex": "Harrell's C-index", "auc": "AUC", "ibs": "Integrated Brier score"}


def plot_metric_comparison(perf: pd.DataFrame, metric: str, *, title: str | None = None):
    """Dot-and-whisker chart of ``metric`` rows of a performance table (columns ``component``,
    ``cohort``, ``estimate``, ``ci_lower``, ``ci_upper``); returns the Figure."""
    rows = perf[perf["metric"] == metric]
    if rows.empty:
        raise ValueError(f"no '{metric}' rows to plot")
    components = ordered(rows["component"])
    cohorts = ordered(rows["cohort"])
    colours = series_colours(cohorts)
    fig, ax = plt.subplots(figsize=(4.6, 0.5 + 0.45 * len(components)))
    step = 0.7 / max(len(cohorts), 1)
    for j, cohort in enumerate(cohorts):
        part = rows[rows["cohort"] == cohort].set_index("component").reindex(components)
        y = np.arange(len(components))[::-1] + (j - (len(cohorts) - 1) / 2) * step
        est = part["estimate"].to_numpy(float)
        err = np.vstack([est - part["ci_lower"].to_numpy(float),
                         part["ci_upper"].to_numpy(float) - est]).clip(min=0)
        ax.errorbar(est, y, xerr=err, fmt="o", ms=3.5, capsize=2, lw=1.0,
                    color=colours[cohort], label=str(cohort))
    ax.set_yticks(np.arange(len(components))[::-1], components)
    if metric in ("cindex", "auc") or metric.startswith("tdauc"):
        ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(f"{_LABELS.get(metric, metric)} (95% CI)")
    ax.legend(frameon=False, loc="best")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
