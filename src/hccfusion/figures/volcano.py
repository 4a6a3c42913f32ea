"""Volcano plot of a differential-expression table (seed 001, Figure 7A and B).

Seed 001 (Lu D, Sun P, Li H, et al. J Hepatocell Carcinoma 2026;13:613014): "Volcano plots of
differentially expressed genes between PRIME-predicted subgroups ... Red, blue, and gray dots
represent upregulated, downregulated, and non-significant genes, respectively. Dot size
indicates statistical significance." The x axis is the log2 fold change first vs second group
(:mod:`hccfusion.omics.groups`), the y axis -log10 of the unadjusted p; significance is the
adjusted p below ``padj`` and an absolute fold change of at least ``lfc``.
"""

from __future__ import annotations

from os import PathLike

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hccfusion.figures.style import figure_style, save

__all__ = ["UP", "DOWN", "volcano_figure", "volcano_status"]

UP, DOWN = "#D55E00", "#0072B2"  # Okabe-Ito vermillion and blue for the paper's red and blue
NS = "#BBBBBB"


def volcano_status(de: pd.DataFrame, *, padj: float = 0.05, lfc: float = 1.0) -> pd.Series:
    """``up``, ``down`` or ``ns`` for every gene of ``de``."""
    sig = (de["padj"] < padj) & (de["log2fc"].abs() >= lfc)
    status = np.where(sig & (de["log2fc"] > 0), "up", np.where(sig, "down", "ns"))
    return pd.Series(status, index=de.index)


def volcano_figure(de: pd.DataFrame, *, title: str = "", first: str = "first group",
                   second: str = "second group", padj: float = 0.05, lfc: float = 1.0,
                   n_labels: int = 10, path: str | PathLike[str] | None = None):
    """Volcano plot; the ``n_labels`` most significant up and down genes are labelled."""
    de = de[np.isfinite(de["pval"].astype(float)) & np.isfinite(de["log2fc"].astype(float))]
    status = volcano_status(de, padj=padj, lfc=lfc)
    y = -np.log10(np.clip(de["pval"].to_numpy(dtype=float), 1e-300, 1.0))
    with figure_style():
        fig, ax = plt.subplots(figsize=(3.6, 3.4))
        for name, colour in (("ns", NS), ("down", DOWN), ("up", UP)):
            m = (status == name).to_numpy()
            label = {"up": f"up in {first} ({m.sum()})", "down": f"up in {second} ({m.sum()})",
                     "ns": f"not significant ({m.sum()})"}[name]
            ax.scatter(de["log2fc"].to_numpy()[m], y[m], s=4 + 2.0 * np.minimum(y[m], 20),
                       c=colour, alpha=0.7, linewidths=0, label=label, rasterized=True)
        for name in ("up", "down"):
            m = (status == name).to_numpy()
            top = np.argsort(-y[m])[:n_labels]
            for gene, xv, yv in zip(de["gene"].to_numpy()[m][top], de["log2fc"].to_numpy()[m][top],
                                    y[m][top], strict=True):
                ax.annotate(gene, (xv, yv), fontsize=5, xytext=(2, 2), textcoords="offset points")
        ax.axvline(lfc, color="grey", lw=0.6, ls="--")
        ax.axvline(-lfc, color="grey", lw=0.6, ls="--")
        ax.set_xlabel(f"log2 fold change ({first} vs {second})")
        ax.set_ylabel("-log10 p")
        ax.set_title(title)
        ax.legend(loc="upper left", frameon=False, markerscale=1.5)
        if path is not None:
            save(fig, path)
    return fig
