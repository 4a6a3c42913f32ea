"""Box plots of immune-cell ssGSEA scores by predicted group (seed 001, Figure 7F and G).

Seed 001 (Lu D, Sun P, Li H, et al. J Hepatocell Carcinoma 2026;13:613014): "Immune cell
infiltration analysis showing significant differences in cell abundance between predicted
responders and non-responders ... *P < 0.05." Here the stars mark the Benjamini-Hochberg
adjusted p of :func:`hccfusion.omics.immune.compare_groups` (* < 0.05, ** < 0.01, *** < 0.001).
"""

from __future__ import annotations

from os import PathLike

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hccfusion.figures.correlation import significance_marks
from hccfusion.figures.style import GROUP_COLOURS, figure_style, save

__all__ = ["immune_boxplot", "stars"]


def stars(p: float) -> str:
    """The mark of one adjusted p-value, as on the correlation heatmap (NaN -> "")."""
    return significance_marks(pd.DataFrame([[p]])).iat[0, 0]


def immune_boxplot(scores: pd.DataFrame, first: pd.Series, comparison: pd.DataFrame, *,
                   first_label: str = "first", second_label: str = "second", title: str = "",
                   path: str | PathLike[str] | None = None):
    """One pair of boxes (first group, second group) per cell type, with each sample's dot."""
    first = pd.Series(first).astype(bool)
    wide = scores.pivot(index="sample_id", columns="cell_type", values="score").loc[first.index]
    cells = list(comparison.sort_values("cell_type").cell_type)
    padj = comparison.set_index("cell_type").padj
    # High risk in orange; "predicted response" (the favourable first group) in blue.
    c1 = GROUP_COLOURS["high"] if "risk" in first_label else GROUP_COLOURS["low"]
    c2 = GROUP_COLOURS["low"] if "risk" in first_label else GROUP_COLOURS["high"]
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    with figure_style():
        fig, ax = plt.subplots(figsize=(1.0 + 0.32 * len(cells), 3.4))
        for i, cell in enumerate(cells):
            for offset, mask, colour in ((-0.18, first.to_numpy(), c1),
                                         (0.18, ~first.to_numpy(), c2)):
                values = wide[cell].to_numpy()[mask]
                ax.boxplot(values, positions=[i + offset], widths=0.3, showfliers=False,
                           patch_artist=True, boxprops={"facecolor": colour, "alpha": 0.45},
                           medianprops={"color": "black"})
                ax.scatter(i + offset + rng.uniform(-0.07, 0.07, len(values)), values, s=3,
                           c=colour, linewidths=0)
            top = np.nanmax(wide[cell].to_numpy())
            ax.text(i, top, stars(float(padj.get(cell, np.nan))), ha="center", va="bottom")
        ax.set_xticks(range(len(cells)), cells, rotation=60, ha="right")
        ax.set_xlim(-0.6, len(cells) - 0.4)
        ax.set_ylabel("ssGSEA score (ES / genes)")
        handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.45) for c in (c1, c2)]
        ax.legend(handles, [f"{first_label} (n={int(first.sum())})",
                            f"{second_label} (n={int((~first).sum())})"], frameon=False,
                  loc="upper left")
        ax.set_title(title)
        if path is not None:
            save(fig, path)
    return fig
