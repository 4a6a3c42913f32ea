"""SHAP summary figures (seed 001, Figures 4F and 5H) from :func:`hccfusion.explain.fold_shap`.

* :func:`plot_shap_summary`: beeswarm, one dot per patient (out-of-fold SHAP value on the x axis,
  coloured by the patient's feature value), features ordered by mean |SHAP|; patients whose fold
  did not select the feature sit at 0 in grey (no value: the feature was not a model input).
* :func:`plot_shap_importance`: mean |SHAP| averaged over the folds, with the SD over the folds
  and, where it is below 1, the fraction of folds whose selection kept the feature.
* :func:`shap_comparison_figure`: the importance bars of several recipes side by side, e.g. the
  response (PRIME-R) and survival (PRIME-S) models, whose divergence seed 001 discusses.

``plot_*`` functions return the Figure (draw them inside
:func:`~hccfusion.figures.style.figure_style`); ``*_figure`` functions draw in the house style and
save (PDF + PNG when the path has no suffix).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hccfusion.explain import shap_importance, shap_matrix
from hccfusion.figures.style import figure_style, save

__all__ = [
    "plot_shap_importance",
    "plot_shap_summary",
    "shap_comparison_figure",
    "shap_importance_figure",
    "shap_summary_figure",
]

_OUTPUT_LABEL = {
    "probability": "SHAP value (impact on predicted probability)",
    "risk": "SHAP value (impact on predicted risk)",
}
_BAR_COLOUR = "#0072B2"


def _output(values: pd.DataFrame) -> str:
    kinds = pd.unique(values["output"]) if "output" in values else []
    return str(kinds[0]) if len(kinds) == 1 else ""


def plot_shap_summary(
    values: pd.DataFrame, *, max_display: int = 20, title: str | None = None
) -> plt.Figure:
    """Beeswarm summary of out-of-fold SHAP values (Lundberg et al. 2020), one dot per patient.

    ``values`` is the long table of :func:`~hccfusion.explain.fold_shap`. The top
    ``max_display - 1`` features by mean |SHAP| are shown, the rest summed in one row when there
    are more. Feature values are the model inputs (z-scores), coloured low (blue) to high (red).
    """
    import shap

    phi, x = shap_matrix(values)
    n_rows = min(max_display, phi.shape[1])
    fig, ax = plt.subplots(figsize=(5.5, 0.32 * n_rows + 1.4))
    explanation = shap.Explanation(
        values=phi.to_numpy(float), data=x.to_numpy(float), feature_names=list(phi.columns)
    )
    # The beeswarm jitters the dots with NumPy's global generator: seed it for byte-identical
    # figures and restore it, so plotting does not change anyone else's random stream.
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(0)  # noqa: NPY002
        shap.plots.beeswarm(
            explanation, max_display=max_display, ax=ax, show=False, plot_size=None, s=10
        )
    finally:
        np.random.set_state(state)  # noqa: NPY002
    # shap draws with its own font sizes; bring them to the house style.
    for axis in fig.axes:
        axis.tick_params(labelsize=plt.rcParams["ytick.labelsize"])
        axis.yaxis.label.set_size(plt.rcParams["axes.labelsize"])
    ax.set_xlabel(_OUTPUT_LABEL.get(_output(values), "SHAP value"))
    ax.xaxis.label.set_size(plt.rcParams["axes.labelsize"])
    if title:
        ax.set_title(title)
    return fig


def plot_shap_importance(
    values: pd.DataFrame,
    *,
    max_display: int = 20,
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Horizontal bars of mean |SHAP| (averaged over the folds) with the SD over the folds.

    ``values`` is the long table of :func:`~hccfusion.explain.fold_shap` (or an importance table
    of :func:`~hccfusion.explain.shap_importance`). Features selected in fewer than all folds are
    annotated with the fraction of folds that selected them.
    """
    table = values if "mean_abs_shap" in values else shap_importance(values)
    top = table.head(max_display).iloc[::-1]  # largest at the top
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 0.28 * len(top) + 1.2))
    pos = np.arange(len(top))
    ax.barh(
        pos,
        top["mean_abs_shap"],
        xerr=top["fold_sd"].fillna(0.0),
        color=_BAR_COLOUR,
        error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333333"},
    )
    ax.set_yticks(pos, [str(f) for f in top.index])
    ax.set_xlim(left=0)
    for y, (mean, sd, frac) in enumerate(
        top[["mean_abs_shap", "fold_sd", "fold_fraction"]].itertuples(index=False)
    ):
        if frac < 1:
            ax.annotate(
                f"{frac:.0%} of folds",
                (mean + (0 if np.isnan(sd) else sd), y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=6,
                color="#555555",
            )
    unit = {"probability": " (probability)", "risk": " (risk score)"}.get(
        _output(values) if "output" in values else "", ""
    )
    ax.set_xlabel(f"mean |SHAP value|{unit}, mean ± SD over folds")
    if title:
        ax.set_title(title)
    return ax.figure


def shap_summary_figure(values: pd.DataFrame, path: str | PathLike[str], **kwargs) -> list[Path]:
    """Draw :func:`plot_shap_summary` in the house style and save it; returns the files."""
    with figure_style():
        return save(plot_shap_summary(values, **kwargs), path)


def shap_importance_figure(values: pd.DataFrame, path: str | PathLike[str], **kwargs) -> list[Path]:
    """Draw :func:`plot_shap_importance` in the house style and save it; returns the files."""
    with figure_style():
        return save(plot_shap_importance(values, **kwargs), path)


def shap_comparison_figure(
    explanations: Mapping[str, pd.DataFrame],
    path: str | PathLike[str],
    *,
    max_display: int = 10,
) -> list[Path]:
    """Importance bars of several models side by side, e.g. ``{"PRIME-R": ..., "PRIME-S": ...}``.

    Each panel has its own x axis: the explained outputs differ (probability vs risk score).
    """
    if not explanations:
        raise ValueError("no explanations to compare")
    with figure_style():
        n_rows = max(min(max_display, v["feature"].nunique()) for v in explanations.values())
        fig, axes = plt.subplots(
            1,
            len(explanations),
            figsize=(4.2 * len(explanations), 0.28 * n_rows + 1.4),
            squeeze=False,
        )
        for ax, (name, values) in zip(axes[0], explanations.items(), strict=True):
            plot_shap_importance(values, max_display=max_display, title=name, ax=ax)
        fig.tight_layout()
        return save(fig, path)
