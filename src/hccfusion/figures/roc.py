"""ROC curves per cohort and per component, with the AUC and its DeLong CI in the legend.

Also holds the small layout helpers (panel order, colours per series) that the other
evaluation figures (:mod:`.calibration`, :mod:`.decision`, :mod:`.timedep`) share.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from hccfusion.figures.style import COHORT_COLOURS, COMPONENT_COLOURS, figure_style
from hccfusion.metrics import auc_ci

__all__ = ["plot_roc"]

# Series not in the fixed palettes (comparators, reference strategies) take these in order.
_EXTRA_COLOURS = ("#F0E442", "#882255", "#44AA99", "#332288", "#AA4499", "#117733", "#DDCC77")
_KNOWN_ORDER = (*COHORT_COLOURS, *COMPONENT_COLOURS)
PANEL_SIZE = 3.0  # inches per panel


def ordered(values: Iterable) -> list:
    """Unique values, known cohorts/components first in their fixed order, then as they come."""
    seen = list(dict.fromkeys(values))
    known = [v for v in _KNOWN_ORDER if v in seen]
    return known + [v for v in seen if v not in known]


def series_colours(names: Iterable) -> dict:
    """Colour per series name: the fixed cohort/component colour, else the next spare colour."""
    names = list(names)
    spare = iter(_EXTRA_COLOURS * (1 + len(names) // len(_EXTRA_COLOURS)))
    fixed = {**COHORT_COLOURS, **COMPONENT_COLOURS}
    return {n: fixed[n] if n in fixed else next(spare) for n in names}


def facets(data: pd.DataFrame, panel: str | None, n_rows: int = 1, sharey: bool = True):
    """Figure with one column of axes per value of ``panel`` (one if None).

    Returns ``(fig, axes, panels)``: ``axes`` is 2-D (rows x panels), ``panels`` lists
    ``(value, sub-frame)``; a missing ``panel`` column raises ``KeyError``.
    """
    if panel is None:
        panels = [(None, data)]
    else:
        panels = [(v, data[data[panel] == v]) for v in ordered(data[panel])]
    fig, axes = plt.subplots(
        n_rows,
        len(panels),
        squeeze=False,
        sharey="row" if sharey else False,
        figsize=(PANEL_SIZE * len(panels), (PANEL_SIZE + 0.1) * n_rows),
    )
    return fig, axes, panels


def _groups(data: pd.DataFrame, hue: str | None):
    if hue is None:
        return [(None, data)]
    return [(v, data[data[hue] == v]) for v in ordered(data[hue])]


def plot_roc(
    predictions: pd.DataFrame,
    *,
    panel: str | None = "cohort",
    hue: str | None = "component",
    outcome: str = "outcome",
    score: str = "score",
    alpha: float = 0.05,
    title: str | None = None,
) -> plt.Figure:
    """ROC curves from long-format predictions; returns the Figure (save it with ``style.save``).

    ``predictions`` has one row per patient and series, with the binary ``outcome`` (0/1), the
    ``score`` and the columns named by ``panel`` and ``hue`` (by default one panel per cohort and
    one curve per component; swap them for one panel per component). Curves come from
    ``sklearn.metrics.roc_curve``; the legend gives each curve's AUC with its ``1 - alpha``
    DeLong interval (:func:`hccfusion.metrics.auc_ci`), "n/a" where undefined. Rows with a
    missing outcome or score are ignored.
    """
    data = predictions.dropna(subset=[outcome, score])
    with figure_style():
        fig, axes, panels = facets(data, panel)
        colours = series_colours(ordered(data[hue]) if hue else [])
        for ax, (pvalue, sub) in zip(axes[0], panels, strict=True):
            ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="#BBBBBB", zorder=0)
            for name, grp in _groups(sub, hue):
                y = grp[outcome].to_numpy(dtype=int)
                s = grp[score].to_numpy(dtype=float)
                est, lo, hi = auc_ci(y, s, alpha=alpha)
                auc_txt = (
                    f"AUC {est:.2f} ({lo:.2f}\u2013{hi:.2f})" if np.isfinite(est) else "AUC n/a"
                )
                label = auc_txt if name is None else f"{name}: {auc_txt}"
                if len(np.unique(y)) < 2:  # no ROC curve with one class; keep the legend entry
                    ax.plot([], [], color=colours.get(name, "#000000"), label=label)
                    continue
                fpr, tpr, _ = roc_curve(y, s)
                ax.plot(
                    fpr,
                    tpr,
                    color=colours.get(name, "#000000"),
                    label=label,
                    drawstyle="steps-post",
                )
            ax.set(
                xlim=(0, 1),
                ylim=(0, 1.01),
                aspect="equal",
                xlabel="1 \u2212 specificity",
                title=str(pvalue) if pvalue is not None else (title or ""),
            )
            ax.legend(loc="lower right", frameon=False, title=f"{100 * (1 - alpha):.0f}% CI")
        axes[0, 0].set_ylabel("Sensitivity")
        if title and panel is not None:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
