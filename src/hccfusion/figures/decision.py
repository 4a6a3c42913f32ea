"""Decision curves: net benefit versus threshold probability, with treat-all and treat-none."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hccfusion.decision_curve import TREAT_ALL, TREAT_NONE
from hccfusion.figures.roc import _groups, facets, ordered, series_colours
from hccfusion.figures.style import figure_style

__all__ = ["plot_decision_curve"]

# The reference strategies are drawn in neutral, thin lines so the models stand out.
_REFERENCE_STYLE = {
    TREAT_ALL: {"color": "#7F7F7F", "ls": "-", "lw": 0.9, "label": "Treat all"},
    TREAT_NONE: {"color": "#333333", "ls": ":", "lw": 0.9, "label": "Treat none"},
}


def plot_decision_curve(
    dca: pd.DataFrame,
    *,
    panel: str | None = None,
    show_ci: bool = True,
    xlim: tuple[float, float] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Decision curves from tidy net-benefit rows; returns the Figure.

    ``dca`` has the columns of :func:`hccfusion.decision_curve.decision_curve` (``threshold``,
    ``model``, ``net_benefit``, optional ``ci_lower``/``ci_upper``, drawn as bands when present
    and ``show_ci``) plus the ``panel`` column when given (e.g. one panel per cohort). Models
    named as components or cohorts get their fixed colours. The y-axis runs from a little below
    0 to a little above the largest net benefit (the prevalence), because treat-all falls
    steeply at high thresholds and would otherwise flatten the curves of interest.
    """
    with figure_style():
        fig, axes, panels = facets(dca, panel)
        models = [m for m in ordered(dca["model"]) if m not in _REFERENCE_STYLE]
        colours = series_colours(models)
        for ax, (pvalue, sub) in zip(axes[0], panels, strict=True):
            top = float(np.nanmax(sub["net_benefit"])) if len(sub) else 0.0
            top = top if np.isfinite(top) and top > 0 else 0.1
            for name, grp in _groups(sub, "model"):
                grp = grp.sort_values("threshold")
                x, nb = grp["threshold"].to_numpy(), grp["net_benefit"].to_numpy()
                if name in _REFERENCE_STYLE:
                    ax.plot(x, nb, **_REFERENCE_STYLE[name])
                    continue
                ax.plot(x, nb, color=colours[name], label=str(name))
                if show_ci and {"ci_lower", "ci_upper"} <= set(grp):
                    ax.fill_between(
                        x, grp["ci_lower"], grp["ci_upper"], color=colours[name], alpha=0.15, lw=0
                    )
            ax.set(
                ylim=(-0.15 * top, 1.15 * top),
                xlabel="Threshold probability",
                title=str(pvalue) if pvalue is not None else (title or ""),
            )
            if xlim is not None:
                ax.set_xlim(xlim)
            ax.legend(loc="upper right", frameon=False)
        axes[0, 0].set_ylabel("Net benefit")
        if title and panel is not None:
            fig.suptitle(title)
        fig.tight_layout()
    return fig
