"""Figures of the transcriptomic branch: volcano, endpoint comparison, leading-edge heatmap, ORA
dot plot, immune box plots (PDF + PNG, what they show)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hccfusion.figures.enrichment import (
    endpoint_comparison_figure,
    leading_edge_heatmap,
    ora_figure,
)
from hccfusion.figures.immune import immune_boxplot, stars
from hccfusion.figures.volcano import volcano_figure, volcano_status


def _de(n=200, seed=0):
    rng = np.random.default_rng(seed)
    lfc = rng.normal(0, 1, n)
    p = np.clip(np.exp(-np.abs(lfc) * 4) * rng.uniform(0.2, 1, n), 1e-12, 1)
    return pd.DataFrame({"gene": [f"G{i}" for i in range(n)], "log2fc": lfc, "pval": p,
                         "padj": np.minimum(p * 5, 1)})


def _said(fig):
    """The texts of a placeholder figure (one axes, axis off)."""
    (ax,) = fig.axes
    assert not ax.axison
    return [t.get_text() for t in ax.texts]


def test_volcano_status_and_files(tmp_path):
    de = _de()
    status = volcano_status(de, padj=0.05, lfc=1.0)
    sig = (de.padj < 0.05) & (de.log2fc.abs() >= 1)
    assert (status[sig & (de.log2fc > 0)] == "up").all()
    assert (status[sig & (de.log2fc < 0)] == "down").all() and (status[~sig] == "ns").all()
    fig = volcano_figure(de, title="t", first="high risk", second="low risk",
                         path=tmp_path / "volcano")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(f"up in high risk ({int((status == 'up').sum())})" == t for t in labels)
    assert (tmp_path / "volcano.pdf").stat().st_size > 0
    assert (tmp_path / "volcano.png").stat().st_size > 0


def test_endpoint_comparison_and_ora(tmp_path):
    gsea = pd.DataFrame({"label": ["PRIME-R response"] * 3 + ["PRIME-S os"] * 3,
                         "term": ["HALLMARK_A", "HALLMARK_B", "HALLMARK_C"] * 2,
                         "nes": [2.0, -1.5, 0.3, -1.0, 1.8, 0.2],
                         "fdr": [0.01, 0.02, 0.9, 0.03, 0.01, 0.8]})
    fig = endpoint_comparison_figure(gsea, top=2, path=tmp_path / "gsea")
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(ticks) == ["A", "B"]  # C is in neither endpoint's top 2
    assert (tmp_path / "gsea.png").exists()
    fig = endpoint_comparison_figure(gsea.iloc[:0], title="GSEA", path=tmp_path / "gsea_empty.png")
    assert (tmp_path / "gsea_empty.png").exists()
    assert _said(fig) == ["no GSEA results"] and fig.axes[0].get_title() == "GSEA"
    ora = pd.DataFrame({"direction": ["up", "down"], "term": ["x (GO:1)", "y (GO:2)"],
                        "overlap": [5, 3], "odds_ratio": [3.0, 2.0], "padj": [0.001, 0.04]})
    ora_figure(ora, path=tmp_path / "ora.png")
    assert (tmp_path / "ora.png").exists()
    fig = ora_figure(ora.iloc[:0], path=tmp_path / "ora_empty.png")
    assert (tmp_path / "ora_empty.png").exists()
    assert _said(fig) == ["no differentially expressed genes to test"]


def test_leading_edge_heatmap_orders_groups(tmp_path):
    rng = np.random.default_rng(1)
    samples = [f"S{i}" for i in range(6)]
    expr = pd.DataFrame(rng.normal(size=(4, 6)), index=["g1", "g2", "g3", "g4"], columns=samples)
    first = pd.Series([False, True, False, True, False, True], index=samples)
    fig = leading_edge_heatmap(expr, {"SET_A": ["g1", "g2"], "SET_B": ["g2", "g3", "gX"]}, first,
                               first_label="high risk", second_label="low risk",
                               path=tmp_path / "le")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["g1", "g2", "g3"]
    assert "high risk (n=3)" in ax.get_xlabel()
    assert (tmp_path / "le.pdf").exists()
    fig = leading_edge_heatmap(expr, {"SET_A": ["gX"]}, first, path=tmp_path / "le_empty.png")
    assert _said(fig) == ["no enriched set with a leading edge"]
    assert (tmp_path / "le_empty.png").exists()


def test_immune_boxplot(tmp_path):
    samples = [f"S{i}" for i in range(6)]
    scores = pd.DataFrame([(s, c, float(i)) for i, s in enumerate(samples) for c in ("A", "B")],
                          columns=["sample_id", "cell_type", "score"])
    comparison = pd.DataFrame({"cell_type": ["A", "B"], "padj": [0.004, 0.5]})
    first = pd.Series([True] * 3 + [False] * 3, index=samples)
    fig = immune_boxplot(scores, first, comparison, first_label="predicted response",
                         second_label="predicted no response", path=tmp_path / "immune.png")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["**", ""]
    assert stars(0.0005) == "***" and stars(np.nan) == ""
    assert (tmp_path / "immune.png").exists()
