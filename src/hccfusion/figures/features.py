"""Heatmap of the selected features by outcome or risk group (seed 001, Figures 4C and 5G).

Rows are features, columns are training patients sorted by group; values are z-scores over the
shown patients (clipped at +/- 2.5 SD so a few outliers do not wash out the colours), blue low and
red high. Each row carries the two-sided Mann-Whitney U p-value (Mann & Whitney 1947) of the
feature between the two groups, which is how seed 001 reads these heatmaps ("maximum 3D diameter
and major axis length (both p < 0.001)").
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from scipy import stats

from hccfusion.figures.km import format_p
from hccfusion.figures.style import GROUP_COLOURS

__all__ = ["group_pvalues", "plot_feature_heatmap"]

_CLIP = 2.5


def group_pvalues(X: pd.DataFrame, groups: pd.Series) -> pd.Series:
    """Mann-Whitney U p per column of ``X`` between the two levels of ``groups`` (NaN when a
    level has fewer than two values)."""
    levels = list(pd.unique(groups.dropna()))
    if len(levels) != 2:
        raise ValueError(f"two groups needed, got {levels}")
    out = {}
    for col in X.columns:
        a = X.loc[groups == levels[0], col].dropna()
        b = X.loc[groups == levels[1], col].dropna()
        out[col] = (stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
                    if len(a) >= 2 and len(b) >= 2 else np.nan)
    return pd.Series(out, dtype=float)


def plot_feature_heatmap(
    X: pd.DataFrame,
    groups: pd.Series,
    *,
    order: list[str] | None = None,
    colours: dict | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Heatmap of ``X`` (patients x features, numeric) with patients grouped by ``groups``
    (aligned on the index; ``order`` gives the group order, default as they come); returns the
    Figure (draw it inside :func:`~hccfusion.figures.style.figure_style`)."""
    groups = groups.reindex(X.index)
    keep = groups.notna()
    X, groups = X[keep], groups[keep]
    order = order or list(pd.unique(groups))
    pos = groups.map({g: i for i, g in enumerate(order)})
    idx = pos.sort_values(kind="stable").index
    z = (X - X.mean()) / X.std(ddof=1).replace(0, np.nan)
    z = z.loc[idx].clip(-_CLIP, _CLIP)
    p = group_pvalues(X, groups)
    m = X.shape[1]
    fig, (ax_g, ax) = plt.subplots(
        2, 1, sharex=True, figsize=(6.5, 0.9 + 0.26 * m),
        gridspec_kw={"height_ratios": [0.5, max(m, 1)], "hspace": 0.04})
    colours = colours or {g: c for g, c in zip(order, ("#0072B2", "#D55E00", "#009E73"),
                                                 strict=False)}
    colours = {**{"low": GROUP_COLOURS["low"], "high": GROUP_COLOURS["high"]}, **colours}
    ax_g.imshow(pos.loc[idx].to_numpy()[None, :], aspect="auto", interpolation="nearest",
                cmap=ListedColormap([colours[g] for g in order]), vmin=-0.5,
                vmax=len(order) - 0.5)
    ax_g.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        ax_g.spines[side].set_visible(False)
    counts = groups.value_counts()
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[g]) for g in order]
    ax_g.legend(handles, [f"{g} (n = {int(counts.get(g, 0))})" for g in order], ncol=len(order),
                loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    image = ax.imshow(z.to_numpy(float).T, aspect="auto", interpolation="nearest",
                      cmap="RdBu_r", vmin=-_CLIP, vmax=_CLIP)
    ax.set_yticks(range(m), [f"{c}  (p {format_p(p[c], inline=True)})" for c in X.columns])
    ax.set_xticks([])
    ax.set_xlabel(f"Patients (n = {len(idx)}), grouped")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    bar = fig.colorbar(image, ax=[ax_g, ax], fraction=0.03, pad=0.02)
    bar.set_label("z-score")
    if title:
        ax_g.set_title(title, pad=18)
    return fig
