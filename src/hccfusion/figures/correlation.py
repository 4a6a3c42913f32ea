"""Correlation matrix of the selected features with significance marks (seed 001, Figure 3).

The heatmap shows the lower triangle of the matrix of :func:`hccfusion.explain.feature_correlation`
(red positive, blue negative), ordered by hierarchical clustering so that redundant groups of
features sit together, with * p_adj < 0.05, ** < 0.01, *** < 0.001 on Benjamini-Hochberg adjusted
p-values.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from hccfusion.explain import FeatureCorrelation
from hccfusion.figures.style import figure_style, save

__all__ = [
    "SIGNIFICANCE_LEVELS",
    "correlation_figure",
    "correlation_order",
    "plot_correlation",
    "significance_marks",
]

#: (threshold, mark) from the strictest: a p-value below the threshold gets the mark.
SIGNIFICANCE_LEVELS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))


def significance_marks(p_adj: pd.DataFrame, levels=SIGNIFICANCE_LEVELS) -> pd.DataFrame:
    """ "***", "**", "*" or "" per cell of a p-value matrix (NaN -> "")."""
    p = p_adj.to_numpy(float)
    marks = np.full(p.shape, "", dtype=object)
    for threshold, mark in sorted(levels, reverse=True):  # loosest first, strictest wins
        marks[np.isfinite(p) & (p < threshold)] = mark
    return pd.DataFrame(marks, index=p_adj.index, columns=p_adj.columns)


def correlation_order(r: pd.DataFrame) -> list:
    """Feature order of average-linkage clustering on 1 - |r| (optimal leaf ordering).

    Undefined correlations count as 0 (distance 1). Fewer than three features keep their order.
    """
    if len(r) < 3:
        return list(r.index)
    dist = 1.0 - np.abs(np.nan_to_num(r.to_numpy(float), nan=0.0))
    dist = np.clip((dist + dist.T) / 2.0, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    tree = hierarchy.linkage(
        squareform(dist, checks=False), method="average", optimal_ordering=True
    )
    return [r.index[i] for i in hierarchy.leaves_list(tree)]


def plot_correlation(
    corr: FeatureCorrelation,
    *,
    order: str = "cluster",
    annotate: bool | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Lower-triangle heatmap of ``corr.r`` with significance marks from ``corr.p_adj``.

    ``order`` is ``"cluster"`` (:func:`correlation_order`) or ``"given"`` (the table's order).
    ``annotate`` prints the coefficient above the marks (default: when at most 15 features).
    The diagonal and the upper triangle are left out (the first feature has no row, the last no
    column).
    """
    if order not in ("cluster", "given"):
        raise ValueError(f"order must be 'cluster' or 'given', got {order!r}")
    names = correlation_order(corr.r) if order == "cluster" else list(corr.r.index)
    if len(names) < 2:
        raise ValueError("a correlation matrix needs at least two features")
    # Lower triangle without the diagonal: rows are features 2..m, columns features 1..m-1.
    rows, cols = names[1:], names[:-1]
    r = corr.r.loc[rows, cols].to_numpy(float)
    marks = significance_marks(corr.p_adj.loc[rows, cols]).to_numpy()
    m = len(rows)
    annotate = m < 15 if annotate is None else annotate
    shown = np.tril(np.ones((m, m), dtype=bool))
    size = min(max(0.32 * m + 1.8, 3.0), 12.0)
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    image = ax.imshow(
        np.ma.masked_where(~shown, r), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"
    )
    fontsize = float(np.clip(90.0 / max(m, 1), 4.0, 7.0))
    for i, j in zip(*np.nonzero(shown), strict=True):
        text = marks[i, j]
        if annotate and np.isfinite(r[i, j]):
            text = f"{r[i, j]:.2f}\n{text}" if text else f"{r[i, j]:.2f}"
        if text:
            colour = "white" if abs(r[i, j]) > 0.6 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=colour)
    ax.set_xticks(range(m), [str(n) for n in cols], rotation=90)
    ax.set_yticks(range(m), [str(n) for n in rows])
    ax.tick_params(length=0)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    label = {"spearman": "Spearman r", "pearson": "Pearson r", "kendall": "Kendall tau"}
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label(label.get(corr.method, "r"))
    ax.set_title(title or "")
    # The legend of the marks goes into the empty upper triangle.
    ax.text(
        0.98,
        0.98,
        "* p < 0.05\n** p < 0.01\n*** p < 0.001\n(Benjamini-Hochberg\nadjusted)",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=6,
    )
    return fig


def correlation_figure(corr: FeatureCorrelation, path: str | PathLike[str], **kwargs) -> list[Path]:
    """Draw :func:`plot_correlation` in the house style and save it; returns the files."""
    with figure_style():
        return save(plot_correlation(corr, **kwargs), path)
