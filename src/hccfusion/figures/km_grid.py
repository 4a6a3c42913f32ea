"""Kaplan-Meier curves of the risk groups within subgroups, one panel per subgroup level and
cohort (seed 001, Figure 6D-I: combination and monotherapy regimens; Supplementary Figures 6-9:
age, tumour burden, extrahepatic metastasis).

Each panel is a lifelines :class:`~lifelines.KaplanMeierFitter` per risk group with its 95 %
band and censoring ticks, and the log-rank p and Cox HR of
:func:`hccfusion.stratify.group_comparison` (the numbers of ``stratification.tsv``). The
number-at-risk tables of :func:`hccfusion.figures.km.km_figure` are left out to keep a grid
readable; the group sizes are in the legend.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from hccfusion.figures.km import comparison_text, draw_km_groups, survival_arrays
from hccfusion.figures.roc import ordered
from hccfusion.stratify import group_comparison

__all__ = ["km_grid_figure"]


def km_grid_figure(data: pd.DataFrame, *, row: str, col: str, levels: list | None = None,
                   xlabel: str = "Months", title: str | None = None) -> plt.Figure:
    """Grid of KM panels from ``data`` (columns ``time``, ``event``, ``group`` low/high, and the
    ``row`` and ``col`` columns); ``levels`` orders the rows. Patients with a missing time,
    event or group are left out, as in :func:`~hccfusion.figures.km.km_figure`. Returns the
    Figure."""
    rows = levels or sorted(data[row].dropna().unique(), key=str)
    cols = ordered(data[col].dropna())
    fig, axes = plt.subplots(len(rows), len(cols), squeeze=False, sharey=True,
                             figsize=(2.8 * len(cols), 2.5 * len(rows)))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            part = data[(data[row] == r) & (data[col] == c)]
            t, e, g = survival_arrays(part["time"], part["event"], part["group"])
            if len(t):
                draw_km_groups(ax, t, e, g, compact=True)
                ax.text(0.97, 0.97, comparison_text(group_comparison(t, e, g), compact=True),
                        transform=ax.transAxes, ha="right", va="top", fontsize=6)
                ax.legend(loc="lower left", frameon=False, fontsize=6)
            else:
                ax.text(0.5, 0.5, "no patients", transform=ax.transAxes, ha="center")
            ax.set_ylim(0, 1.02)
            ax.set_xlim(left=0)
            ax.set_title(f"{r}: {c}")
            ax.set_xlabel(xlabel if i == len(rows) - 1 else "")
            ax.set_ylabel("Survival probability" if j == 0 else "")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
