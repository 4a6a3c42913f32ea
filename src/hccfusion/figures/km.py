"""Kaplan-Meier curves of the risk groups and the forest plot of subgroup hazard ratios.

Seed 001, Figure 6 (Lu D, Sun P, Li H, et al. J Hepatocell Carcinoma 2026;13:613014): KM curves of
the high- and low-risk groups per cohort and per treatment regimen, with the log-rank p; its
supplementary figures repeat them within age, tumour-burden and extrahepatic-metastasis
subgroups. The curves follow the KMunicate proposals (Morris TP, Jarvis CI, Cragg W, et al. BMJ
Open 2019;9:e030215): confidence bands, censoring ticks and a number-at-risk table under the axes.
The numbers printed on the figures come from :mod:`hccfusion.stratify`, so figure and table agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.plotting import add_at_risk_counts
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from hccfusion.figures.style import GROUP_COLOURS, figure_style, save
from hccfusion.stratify import GROUPS, group_comparison

__all__ = ["comparison_text", "draw_km_groups", "forest_figure", "format_p", "km_figure",
           "survival_arrays"]


def format_p(p: float, *, inline: bool = False, missing: str = "NA") -> str:
    """A p-value as printed on figures and tables: ``< 0.001``, else three decimals; ``missing``
    (``NA``) if None or NaN.

    ``inline`` prefixes ``= `` to a number, for text such as ``"p " + format_p(p, inline=True)``.
    """
    if p is None or not np.isfinite(p):
        return missing
    if p < 0.001:
        return "< 0.001"
    return f"= {p:.3f}" if inline else f"{p:.3f}"


def _hr_text(hr: float, lower: float, upper: float, *, ci_label: str = "") -> str:
    if not np.isfinite(hr):
        return "not estimable"
    return f"{hr:.2f} ({ci_label}{lower:.2f}\u2013{upper:.2f})"


def comparison_text(res: Mapping, *, compact: bool = False) -> str:
    """The log-rank p and Cox HR (high vs low) of a
    :func:`hccfusion.stratify.group_comparison` result as printed on KM panels, or the reason
    neither is estimable. ``compact`` (grid panels) shortens the labels and leaves out the
    reason for a missing HR."""
    p, hr = res["logrank_p"], res["hr"]
    if not (np.isfinite(p) or np.isfinite(hr)):
        return res["note"] or "not estimable"
    hr_txt = _hr_text(hr, res["hr_lower"], res["hr_upper"],
                      ci_label="" if compact else "95% CI ")
    text = f"{'p' if compact else 'Log-rank p'} {format_p(p, inline=True)}\nHR {hr_txt}"
    if res["note"] and np.isfinite(p) and not np.isfinite(hr) and not compact:
        text += f"\n({res['note']})"
    return text


def survival_arrays(time, event, group) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``time`` (float), ``event`` (int) and ``group`` (object) as arrays, without the patients
    whose time or event is not finite or whose group is missing (lifelines raises on them)."""
    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event, dtype=float).ravel()
    g = np.asarray(group, dtype=object).ravel()
    ok = np.isfinite(t) & np.isfinite(e) & pd.notna(g)
    return t[ok], e[ok].astype(int), g[ok]


def draw_km_groups(ax, time, event, group, *, alpha: float = 0.05, compact: bool = False):
    """One Kaplan-Meier curve per risk group on ``ax``, with its pointwise ``1 - alpha`` band and
    censoring ticks; groups without patients are left out. Give the arrays of
    :func:`survival_arrays`. Labels are ``"High risk (n = 12)"``, or ``"high (n = 12)"`` with
    ``compact`` (grid panels, smaller ticks). Returns ``[(group, fitter), ...]``."""
    fitters = []
    for name in GROUPS:
        sel = group == name
        if not sel.any():
            continue
        n = int(sel.sum())
        label = f"{name} (n = {n})" if compact else f"{name.capitalize()} risk (n = {n})"
        kmf = KaplanMeierFitter(alpha=alpha).fit(time[sel], event[sel], label=label)
        kmf.plot_survival_function(
            ax=ax, ci_show=True, ci_alpha=0.15 if compact else 0.18, show_censors=True,
            color=GROUP_COLOURS[name],
            censor_styles={"marker": "|", "ms": 4 if compact else 5, "mew": 0.8},
        )
        fitters.append((name, kmf))
    return fitters


def km_figure(
    time,
    event,
    group,
    title: str = "",
    *,
    xlabel: str = "Time",
    ylabel: str = "Survival probability",
    xticks=None,
    alpha: float = 0.05,
    figsize: tuple[float, float] = (3.6, 3.6),
    path: str | PathLike[str] | None = None,
):
    """Kaplan-Meier curves of the low- and high-risk groups, with a number-at-risk table.

    ``group`` holds ``"low"``/``"high"`` (:func:`hccfusion.stratify.risk_groups` with the frozen
    training cut-off). Each curve is a lifelines :class:`~lifelines.KaplanMeierFitter` with its
    pointwise ``1 - alpha`` band and censoring ticks; the at-risk table is lifelines'
    :func:`~lifelines.plotting.add_at_risk_counts`; the annotation gives the log-rank p and the
    Cox HR (high vs low) with its interval from :func:`hccfusion.stratify.group_comparison`, or
    why they are not estimable. A group with no patients is left out of plot and table.

    Times are plotted in the unit given (say which in ``xlabel``). Returns the Figure; with
    ``path`` it is also saved (see :func:`hccfusion.figures.style.save`; no suffix writes PDF and
    PNG) inside the figure style, and closed.
    """
    res = group_comparison(time, event, group, alpha=alpha)
    t, e, g = survival_arrays(time, event, group)
    with figure_style():
        fig, ax = plt.subplots(figsize=figsize)
        fitters = draw_km_groups(ax, t, e, g, alpha=alpha)
        ax.set_ylim(0.0, 1.02)
        ax.set_xlim(left=0.0)
        if xticks is not None:
            ax.set_xticks(xticks)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.legend(loc="lower left", frameon=False)
        text = comparison_text(res)
        # Lower left, above the legend: KM curves start at 1 on the left, so that corner is
        # the one they leave empty.
        ax.text(0.03, 0.19, text, transform=ax.transAxes, ha="left", va="bottom")
        if fitters:
            # The at-risk counts are taken at the axis ticks, so the limits must be final here.
            add_at_risk_counts(*(k for _, k in fitters), ax=ax, rows_to_show=["At risk"],
                               labels=[n.capitalize() for n, _ in fitters],
                               xticks=xticks, fig=fig)
        fig.tight_layout()
        if path is not None:
            save(fig, path)
    return fig


# --- forest plot ------------------------------------------------------------------------------


def _forest_table(rows: pd.DataFrame) -> tuple[pd.DataFrame, Mapping | None]:
    """Normalise either input (subgroup_analysis frame or long stratification rows)."""
    if "metric" not in rows.columns:
        return rows.reset_index(drop=True), None
    keys = [c for c in ("recipe", "component", "endpoint", "cohort") if c in rows.columns]
    if keys and len(rows[keys].drop_duplicates()) > 1:
        raise ValueError("forest_figure: filter the stratification rows to one recipe, "
                         "component, endpoint and cohort first")
    sub = rows[(rows["analysis"] == "subgroup") & (rows["metric"] == "hr")]
    inter = rows[(rows["analysis"] == "subgroup") & (rows["metric"] == "interaction_p")]
    p_int = dict(zip(inter["subgroup"], inter["estimate"], strict=True))
    table = pd.DataFrame({
        "subgroup": sub["subgroup"], "level": sub["level"], "n": sub["n"],
        "n_events": sub["n_events"], "hr": sub["estimate"], "ci_lower": sub["ci_lower"],
        "ci_upper": sub["ci_upper"], "p": sub["p"],
        "p_interaction": sub["subgroup"].map(p_int),
    }).reset_index(drop=True)
    overall = rows[(rows["analysis"] == "groups") & (rows["metric"] == "hr")]
    first = None
    if len(overall):
        r = overall.iloc[0]
        first = {"n": r["n"], "n_events": r["n_events"], "hr": r["estimate"],
                 "ci_lower": r["ci_lower"], "ci_upper": r["ci_upper"], "p": r["p"]}
    return table, first


def forest_figure(
    subgroup_rows: pd.DataFrame,
    *,
    title: str = "",
    overall: Mapping | None = None,
    xlabel: str = "Hazard ratio, high vs low risk (log scale)",
    path: str | PathLike[str] | None = None,
):
    """Forest plot of the high- vs low-risk HR within each subgroup level.

    ``subgroup_rows`` is the frame of :func:`hccfusion.stratify.subgroup_analysis`, or the long
    rows of :func:`hccfusion.stratify.stratification_rows` for one recipe, component, endpoint
    and cohort (then the cohort's overall HR is drawn on top). ``overall`` (keys ``hr``,
    ``ci_lower``, ``ci_upper``, ``p``, ``n``, ``n_events``) adds or replaces that top row.
    Each subgroup is a header with its interaction p, followed by its levels with n (events),
    HR (95 % CI) and p; a level whose HR is NaN is printed as not estimable. Returns the Figure;
    with ``path`` it is also saved and closed.
    """
    table, first = _forest_table(subgroup_rows)
    if overall is not None:
        first = overall
    # One line per printed row, top to bottom: (label, indent, stats or None, header p-int).
    lines: list[tuple[str, bool, Mapping | None, float]] = []
    if first is not None:
        lines.append(("All patients", False, first, np.nan))
    for name, part in table.groupby("subgroup", sort=False):
        lines.append((str(name), False, None, float(part["p_interaction"].iloc[0])))
        for r in part.to_dict("records"):
            lines.append((str(r["level"]), True, r, np.nan))
    if not lines:
        raise ValueError("forest_figure: no subgroup rows")

    finite = table[np.isfinite(table["hr"].astype(float))]
    bounds = list(finite["ci_lower"]) + list(finite["ci_upper"])
    if first is not None and np.isfinite(first["hr"]):
        bounds += [first["ci_lower"], first["ci_upper"]]
    bounds = [b for b in bounds if np.isfinite(b) and b > 0]
    lo = max(min(bounds + [0.5]) / 1.2, 1e-2)
    hi = min(max(bounds + [2.0]) * 1.2, 1e2)

    n_lines = len(lines)
    with figure_style():
        fig, (ax_l, ax, ax_r) = plt.subplots(
            1, 3, sharey=True, figsize=(7.0, 0.6 + 0.22 * n_lines),
            gridspec_kw={"width_ratios": [2.0, 2.4, 3.2], "wspace": 0.04})
        ys = np.arange(n_lines)[::-1]
        for y, (label, indent, stats, p_int) in zip(ys, lines, strict=True):
            weight = "normal" if indent else "bold"
            ax_l.text(0.08 if indent else 0.0, y, label, va="center", ha="left",
                      fontweight=weight)
            if stats is None:
                ax_r.text(0.0, y, f"p for interaction {format_p(p_int, inline=True)}",
                          va="center", ha="left",
                          style="italic")
                continue
            hr, cl, cu = (float(stats[k]) for k in ("hr", "ci_lower", "ci_upper"))
            n_txt = f"{int(stats['n'])} ({int(stats['n_events'])})"
            ax_r.text(0.0, y, n_txt, va="center", ha="left")
            ax_r.text(0.34, y, _hr_text(hr, cl, cu), va="center", ha="left")
            ax_r.text(0.86, y, format_p(float(stats["p"])) if np.isfinite(hr) else "",
                      va="center", ha="left")
            if np.isfinite(hr):
                colour = GROUP_COLOURS["high"] if not indent else "black"
                ax.plot([np.clip(cl, lo, hi), np.clip(cu, lo, hi)], [y, y], color=colour, lw=1.0)
                ax.plot([np.clip(hr, lo, hi)], [y], marker="D" if not indent else "s",
                        color=colour, ms=4)
        header_y = n_lines - 0.2
        ax_l.text(0.0, header_y, "Subgroup", fontweight="bold", va="bottom")
        for x, head in ((0.0, "n (events)"), (0.34, "HR (95% CI)"), (0.86, "p")):
            ax_r.text(x, header_y, head, fontweight="bold", va="bottom")
        ax.axvline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        # Plain numbers at doublings of the HR read better than powers of ten.
        ticks = [2.0**k for k in range(-7, 8) if lo <= 2.0**k <= hi]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylim(-0.7, n_lines + 0.3)
        ax.set_xlabel(xlabel)
        ax.tick_params(axis="y", left=False, labelleft=False)
        ax.spines["left"].set_visible(False)
        for side in (ax_l, ax_r):
            side.set_xlim(0.0, 1.0)
            side.axis("off")
        if title:
            fig.suptitle(title)
        if path is not None:
            save(fig, path)
    return fig
