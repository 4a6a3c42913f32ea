"""Pathway figures of the transcriptomic branch: the comparative GSEA view of two endpoints, the
leading-edge heatmap, and the over-representation dot plot (seed 001, Figure 7C-E).

Seed 001 (Lu D, Sun P, Li H, et al. J Hepatocell Carcinoma 2026;13:613014), Figure 7: "(C)
Comparative GSEA pathway enrichment, with blue representing response-associated pathways and
orange representing survival-associated pathways. (D) Heatmap of leading-edge genes from
representative pathways. (E) KEGG/GO enrichment comparison." NES > 0 means higher in the first
group of the endpoint (predicted responders, high risk; :mod:`hccfusion.omics.groups`).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hccfusion.figures.style import figure_style, placeholder, save

__all__ = ["endpoint_comparison_figure", "leading_edge_heatmap", "ora_figure"]

#: Okabe-Ito blue, orange, then more, one per endpoint in the order given.
ENDPOINT_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9"]


def _short(term: str, width: int = 42) -> str:
    term = term.removeprefix("HALLMARK_").replace("_", " ")
    return term if len(term) <= width else term[: width - 1] + "\u2026"


def endpoint_comparison_figure(gsea: pd.DataFrame, *, top: int = 8, fdr: float = 0.05,
                               title: str = "", path: str | PathLike[str] | None = None):
    """NES of the union of each endpoint's ``top`` sets (by |NES|), side by side per endpoint
    (rows ``label``, ``term``, ``nes``, ``fdr``); sets with FDR below ``fdr`` are drawn solid,
    the others hatched and pale."""
    if gsea.empty:
        fig = placeholder("no GSEA results", title=title)
        if path is not None:
            with figure_style():
                save(fig, path)
        return fig
    labels = list(dict.fromkeys(gsea["label"]))
    terms: list[str] = []
    for label in labels:
        part = gsea[gsea.label == label]
        part = part.reindex(part.nes.abs().sort_values(ascending=False).index)
        terms += [t for t in part.term.head(top) if t not in terms]
    wide = gsea.pivot_table(index="term", columns="label", values="nes").reindex(terms)
    sig = gsea.pivot_table(index="term", columns="label", values="fdr").reindex(terms) < fdr
    order = wide.mean(axis=1).sort_values().index
    wide, sig = wide.loc[order], sig.loc[order]
    height = 0.8 / max(len(labels), 1)
    with figure_style():
        fig, ax = plt.subplots(figsize=(5.0, 0.9 + 0.28 * len(order) * max(1, len(labels) / 2)))
        y = np.arange(len(order))
        for i, label in enumerate(labels):
            colour = ENDPOINT_COLOURS[i % len(ENDPOINT_COLOURS)]
            values = wide[label].to_numpy(dtype=float) if label in wide else np.zeros(len(order))
            solid = sig[label].to_numpy() if label in sig else np.zeros(len(order), bool)
            pos = y + (i - (len(labels) - 1) / 2) * height
            ax.barh(pos[solid], values[solid], height=height, color=colour, label=label)
            ax.barh(pos[~solid], values[~solid], height=height, color=colour, alpha=0.35,
                    hatch="///", edgecolor="white", linewidth=0)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_yticks(y, [_short(t) for t in order])
        ax.set_xlabel("NES (> 0: higher in predicted responders / high risk)")
        ax.set_title(title)
        ax.legend(frameon=False, loc="lower right", title=f"solid: FDR < {fdr:g}")
        if path is not None:
            save(fig, path)
    return fig


def leading_edge_heatmap(log_expr: pd.DataFrame, genes_by_term: Mapping[str, list[str]],
                         first: pd.Series, *, first_label: str = "first",
                         second_label: str = "second", title: str = "",
                         path: str | PathLike[str] | None = None):
    """Z-scored log2 expression of leading-edge genes (rows, grouped by set) in the samples
    of ``first`` (columns: first group, then second, each by sample id)."""
    first = pd.Series(first).astype(bool)
    cols = list(first.index[first.to_numpy()].sort_values()) + \
        list(first.index[~first.to_numpy()].sort_values())
    rows, row_terms = [], []
    for term, genes in genes_by_term.items():
        for g in genes:
            if g in log_expr.index and g not in rows:
                rows.append(g)
                row_terms.append(term)
    with figure_style():
        if not rows:
            fig = placeholder("no enriched set with a leading edge")
            ax = fig.axes[0]
        else:
            x = log_expr.loc[rows, cols].to_numpy(dtype=float)
            sd = x.std(axis=1, keepdims=True)
            z = np.where(sd > 0, (x - x.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1), 0)
            fig, ax = plt.subplots(figsize=(1.8 + 0.12 * len(cols), 1.0 + 0.12 * len(rows)))
            im = ax.imshow(np.clip(z, -2.5, 2.5), aspect="auto", cmap="RdBu_r", vmin=-2.5,
                           vmax=2.5, interpolation="nearest")
            ax.set_yticks(range(len(rows)), rows, fontsize=5)
            ax.set_xticks([])
            n1 = int(first.sum())
            ax.axvline(n1 - 0.5, color="black", lw=1)
            ax.set_xlabel(f"{first_label} (n={n1})  |  {second_label} (n={len(cols) - n1})")
            for i in range(1, len(rows)):
                if row_terms[i] != row_terms[i - 1]:
                    ax.axhline(i - 0.5, color="white", lw=1.2)
            starts = [i for i in range(len(rows)) if i == 0 or row_terms[i] != row_terms[i - 1]]
            for s in starts:
                ax.text(len(cols) + 0.5, s, _short(row_terms[s], 30), fontsize=5, va="top")
            fig.colorbar(im, ax=ax, fraction=0.03, pad=0.35, label="z-score")
        ax.set_title(title)
        if path is not None:
            save(fig, path)
    return fig


def ora_figure(ora: pd.DataFrame, *, top: int = 10, title: str = "",
               path: str | PathLike[str] | None = None):
    """Dot plot of the ``top`` sets by p of each direction (rows ``direction, term, overlap,
    odds_ratio, padj``): x = -log10 adjusted p, dot size = overlap."""
    parts = [ora[ora.direction == d].head(top) for d in ("up", "down")]
    data = pd.concat(parts, ignore_index=True) if len(ora) else ora
    with figure_style():
        if data.empty:
            fig = placeholder("no differentially expressed genes to test")
            ax = fig.axes[0]
        else:
            fig, ax = plt.subplots(figsize=(5.0, 1.0 + 0.22 * len(data)))
            y = np.arange(len(data))[::-1]
            x = -np.log10(np.clip(data.padj.to_numpy(dtype=float), 1e-300, 1))
            colours = np.where(data.direction == "up", ENDPOINT_COLOURS[1], ENDPOINT_COLOURS[0])
            ax.scatter(x, y, s=10 + 3 * data.overlap.to_numpy(dtype=float), c=colours)
            ax.set_yticks(y, [_short(t, 50) for t in data.term])
            ax.axvline(-np.log10(0.05), color="grey", lw=0.6, ls="--")
            ax.set_xlabel("-log10 adjusted p (orange: genes up in the first group; blue: down)")
        ax.set_title(title)
        if path is not None:
            save(fig, path)
    return fig
