"""Algorithm comparison (seed 001, Figure 4 A/B): inner-CV score of every candidate learner.

One panel per component (``clinical``, ``radiomics``, ``early_fusion``); per learner the mean
inner-fold AUC or C-index of its best grid point with +/- 1 SD over the folds, the chosen learner
filled. The table is :attr:`hccfusion.models.FittedRecipe.algorithm_scores` (``algorithms.tsv``).
The scores rank learners on the features selected from the same patients; they are not a
performance estimate (that is ``train_cv`` in ``performance.tsv``), and the caption says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.figures.roc import facets
from hccfusion.figures.style import COMPONENT_COLOURS, figure_style

__all__ = ["plot_algorithm_comparison"]

_LABELS = {"auc": "Inner-CV AUC", "cindex": "Inner-CV C-index"}


def plot_algorithm_comparison(table: pd.DataFrame, *, title: str | None = None):
    """Dot-and-whisker chart of ``table`` (columns ``block, learner, metric, mean, sd,
    chosen``), one panel per ``block``; returns the figure."""
    missing = {"block", "learner", "metric", "mean", "sd", "chosen"} - set(table.columns)
    if missing:
        raise KeyError(f"algorithm table lacks column(s) {sorted(missing)}")
    if table.empty:
        raise ValueError("no learner scores to plot")
    with figure_style():
        return _draw(table, title)


def _draw(table: pd.DataFrame, title: str | None):
    fig, axes, panels = facets(table, "block")
    learners = list(pd.unique(table["learner"]))  # one row per learner, top to bottom, shared
    position = {name: len(learners) - 1 - i for i, name in enumerate(learners)}
    axes[0][0].set_yticks([position[n] for n in learners], learners)
    for ax, (block, rows) in zip(axes[0], panels, strict=True):
        rows = rows.reset_index(drop=True)
        ypos = rows["learner"].map(position).to_numpy()
        colour = COMPONENT_COLOURS.get(block, "#333333")
        sd = rows["sd"].fillna(0).to_numpy(float)
        ax.errorbar(rows["mean"], ypos, xerr=sd, fmt="none", ecolor=colour, elinewidth=1,
                    capsize=2)
        chosen = rows["chosen"].astype(bool).to_numpy()
        ax.scatter(rows["mean"][~chosen], ypos[~chosen], s=28, facecolors="white",
                   edgecolors=colour, zorder=3)
        ax.scatter(rows["mean"][chosen], ypos[chosen], s=36, color=colour, zorder=3,
                   label="chosen")
        ax.axvline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel(_LABELS.get(str(rows["metric"].iloc[0]), "Inner-CV score"))
        ax.set_title(str(block))
        ax.set_xlim(min(0.3, float(np.nanmin(rows["mean"] - sd)) - 0.02),
                    max(1.0, float(np.nanmax(rows["mean"] + sd)) + 0.02))
    axes[0][0].legend(loc="best", frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
