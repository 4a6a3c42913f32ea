"""Time-dependent AUC and Brier score versus horizon, with CI bands, one line per component."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from hccfusion.figures.roc import _groups, facets, ordered, series_colours
from hccfusion.figures.style import figure_style

__all__ = ["plot_time_dependent"]


def plot_time_dependent(
    tdauc: pd.DataFrame | None = None,
    brier: pd.DataFrame | None = None,
    *,
    hue: str | None = "component",
    panel: str | None = None,
    time_unit: str = "months",
    title: str | None = None,
) -> plt.Figure:
    """Time-dependent AUC (top row) and Brier score (bottom row) versus horizon.

    Each table has the columns of :func:`hccfusion.metrics.td_auc_ci` /
    :func:`~hccfusion.metrics.brier_ci` (``horizon``, ``estimate``, ``ci_lower``, ``ci_upper``)
    plus the ``hue`` column (default one line per component) and, when given, the ``panel``
    column (e.g. one column of panels per cohort). Either table may be omitted; NaN estimates
    (horizons beyond follow-up) leave gaps. The AUC row shows the chance line at 0.5.
    """
    rows = [
        (label, frame)
        for label, frame in (("Time-dependent AUC", tdauc), ("Brier score", brier))
        if frame is not None
    ]
    if not rows:
        raise ValueError("give tdauc, brier or both")
    both = pd.concat([f for _, f in rows], ignore_index=True)
    with figure_style():
        fig, axes, panels = facets(both, panel, n_rows=len(rows))
        colours = series_colours(ordered(both[hue]) if hue else [])
        for r, (ylabel, frame) in enumerate(rows):
            for c, (pvalue, _) in enumerate(panels):
                ax = axes[r, c]
                sub = frame if panel is None else frame[frame[panel] == pvalue]
                if ylabel.endswith("AUC"):
                    ax.axhline(0.5, ls="--", lw=0.8, color="#BBBBBB", zorder=0)
                for name, grp in _groups(sub, hue):
                    grp = grp.sort_values("horizon")
                    colour = colours.get(name, "#000000")
                    ax.plot(
                        grp["horizon"],
                        grp["estimate"],
                        color=colour,
                        marker="o",
                        ms=3,
                        label=None if name is None else str(name),
                    )
                    ax.fill_between(
                        grp["horizon"],
                        grp["ci_lower"],
                        grp["ci_upper"],
                        color=colour,
                        alpha=0.15,
                        lw=0,
                    )
                ax.set_xlabel(f"Horizon ({time_unit})")
                if r == 0:
                    ax.set_title(str(pvalue) if pvalue is not None else (title or ""))
                if c == 0:
                    ax.set_ylabel(ylabel)
        if hue is not None:
            axes[0, -1].legend(loc="best", frameon=False)
        if title and panel is not None:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
