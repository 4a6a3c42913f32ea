"""Calibration plots: observed versus predicted risk (binary) or survival at a horizon.

Points are the quantile groups of :mod:`hccfusion.calibration` with their confidence intervals
as error bars; the diagonal is perfect calibration. Optionally the lowess curve of the binary
calibration and, in the legend, the calibration slope from a summary table.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hccfusion.figures.roc import _groups, facets, ordered, series_colours
from hccfusion.figures.style import figure_style

__all__ = ["plot_binary_calibration", "plot_survival_calibration"]


def _subset(frame: pd.DataFrame | None, column: str | None, value):
    """Rows of ``frame`` with ``column == value``; all rows if there is no such column."""
    if frame is None or column is None or column not in frame:
        return frame
    return frame[frame[column] == value]


def _summary_text(summary: pd.DataFrame | None, hue: str | None, name) -> str:
    """``slope 0.93 (0.84-1.02)`` for the series ``name`` from a summary table, if given."""
    if summary is None or "slope" not in summary:
        return ""
    rows = _subset(summary, hue, name)
    if rows.empty or not np.isfinite(rows["slope"].iloc[0]):
        return ""
    r = rows.iloc[0]
    text = f"slope {r['slope']:.2f}"
    if {"slope_lower", "slope_upper"} <= set(rows) and np.isfinite(r["slope_lower"]):
        text += f" ({r['slope_lower']:.2f}\u2013{r['slope_upper']:.2f})"
    return text


def _draw(curve, *, hue, panel, smooth, summary, xlabel, ylabel, title):
    with figure_style():
        fig, axes, panels = facets(curve, panel)
        colours = series_colours(ordered(curve[hue]) if hue else [])
        for ax, (pvalue, sub) in zip(axes[0], panels, strict=True):
            ax.plot(
                [0, 1],
                [0, 1],
                ls="--",
                lw=0.8,
                color="#BBBBBB",
                zorder=0,
                label="perfect calibration",
            )
            for name, grp in _groups(sub, hue):
                colour = colours.get(name, "#000000")
                grp = grp.sort_values("predicted")
                err = np.vstack(
                    [
                        grp["observed"] - grp["observed_lower"],
                        grp["observed_upper"] - grp["observed"],
                    ]
                ).clip(min=0)
                parts = [str(name)] if name is not None else []
                stat = _summary_text(_subset(summary, panel, pvalue), hue, name)
                parts += [stat] if stat else []
                ax.errorbar(
                    grp["predicted"],
                    grp["observed"],
                    yerr=err,
                    color=colour,
                    marker="o",
                    ms=3.5,
                    lw=1.0,
                    capsize=2,
                    label=": ".join(parts) if parts else None,
                )
                if smooth is not None:
                    sm = _subset(_subset(smooth, panel, pvalue), hue, name)
                    sm = sm.sort_values("predicted")
                    ax.plot(sm["predicted"], sm["observed"], color=colour, lw=0.9, alpha=0.7)
            ax.set(
                xlim=(-0.02, 1.02),  # a margin, so points and bars at 0 or 1 are not clipped
                ylim=(-0.02, 1.02),
                aspect="equal",
                xlabel=xlabel,
                title=str(pvalue) if pvalue is not None else (title or ""),
            )
            ticks = np.linspace(0, 1, 6)
            ax.set_xticks(ticks)
            ax.set_yticks(ticks)
            # under the axes: calibration points can fall anywhere in the square
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
        axes[0, 0].set_ylabel(ylabel)
        if title and panel is not None:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def plot_binary_calibration(
    curve: pd.DataFrame,
    *,
    hue: str | None = "cohort",
    panel: str | None = None,
    smooth: pd.DataFrame | None = None,
    summary: pd.DataFrame | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Binary calibration plot; returns the Figure.

    ``curve`` has the columns of :func:`hccfusion.calibration.binary_calibration_curve`
    (``predicted``, ``observed``, ``observed_lower``, ``observed_upper``) plus the ``hue`` and
    ``panel`` columns when given. ``smooth`` (optional): lowess points from
    :func:`~hccfusion.calibration.binary_calibration_smooth` with the same grouping columns.
    ``summary`` (optional): rows of :func:`~hccfusion.calibration.binary_calibration_summary`
    with the grouping columns; the slope and its CI go into the legend.
    """
    return _draw(
        curve,
        hue=hue,
        panel=panel,
        smooth=smooth,
        summary=summary,
        xlabel="Predicted probability",
        ylabel="Observed fraction",
        title=title,
    )


def plot_survival_calibration(
    curve: pd.DataFrame,
    *,
    horizon: float | None = None,
    time_unit: str = "months",
    hue: str | None = "cohort",
    panel: str | None = None,
    summary: pd.DataFrame | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Survival calibration plot at one horizon; returns the Figure.

    ``curve`` has the columns of :func:`hccfusion.calibration.survival_calibration_curve`
    (predicted survival and Kaplan-Meier observed survival with its CI per group) plus the
    ``hue``/``panel`` columns when given; ``summary`` rows of
    :func:`~hccfusion.calibration.survival_calibration_summary` put the slope in the legend.
    """
    at = "" if horizon is None else f" at {horizon:g} {time_unit}"
    return _draw(
        curve,
        hue=hue,
        panel=panel,
        smooth=None,
        summary=summary,
        xlabel=f"Predicted survival{at}",
        ylabel=f"Observed survival{at}\n(Kaplan\u2013Meier)",
        title=title,
    )
