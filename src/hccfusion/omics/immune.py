"""Immune infiltration: ssGSEA scores of immune cell types, compared between predicted groups.

Single-sample GSEA (Barbie DA, Tamayo P, Boehm JS, et al. Nature 2009;462:108-12) as in gseapy
(Fang Z, et al. Bioinformatics 2023;39:btac757): each sample's genes are ranked by its own
expression and a set's score is the weighted (0.25) running-sum enrichment of its genes in that
ranking. The cell types are the 28 signatures of Charoentong P, Finotello F, Angelova M, et al.
Pan-cancer immunogenomic analyses. Cell Rep 2017;18:248-62.

Normalisation. GSVA's ``ssgsea.norm`` and gseapy's NES divide every score by the range of all
scores in the cohort, so a patient's score depends on which other patients were analysed. Here
each raw score is divided by the number of genes ranked (``es / n_genes``,
:data:`NORMALISATION`), a constant of the matrix: the score of a sample depends on that sample
alone and is comparable across cohorts profiled on the same gene panel. The normalisation is
written into every output row.

Groups are compared per cell type with the two-sided Wilcoxon rank-sum test and
Benjamini-Hochberg adjustment over the cell types of one comparison.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from hccfusion.errors import name_list
from hccfusion.omics.de import DEError, benjamini_hochberg
from hccfusion.omics.genesets import GeneSetCollection

__all__ = ["COMPARISON_COLUMNS", "NORMALISATION", "SCORE_COLUMNS", "compare_groups",
           "ssgsea_scores"]

log = logging.getLogger(__name__)

NORMALISATION = "ssgsea_es_per_gene: raw ssGSEA ES / number of ranked genes (sample-independent)"
#: Columns of ``results/tables/immune_scores.tsv``.
SCORE_COLUMNS = ["sample_id", "cell_type", "score", "n_genes_set", "normalisation",
                 "geneset_version"]
#: Columns of ``results/tables/immune.tsv`` (after ``recipe, endpoint``).
COMPARISON_COLUMNS = ["cell_type", "first_group", "second_group", "n_first", "n_second",
                      "median_first", "median_second", "difference", "pval", "padj"]


def ssgsea_scores(log_expr: pd.DataFrame, collection: GeneSetCollection, *, min_size: int = 5,
                  weight: float = 0.25, threads: int = 1) -> pd.DataFrame:
    """ssGSEA score of every sample (columns of ``log_expr``) and set; :data:`SCORE_COLUMNS`.

    Sets with fewer than ``min_size`` genes in the matrix are left out with a warning naming them.
    """
    import gseapy

    sets = collection.restricted(log_expr.index)
    small = [t for t in collection.sets if len(sets.get(t, [])) < min_size]
    if small:
        log.warning("ssGSEA: %d of %d set(s) of %s have fewer than %d genes in the matrix and "
                    "are not scored: %s", len(small), len(collection.sets), collection.name,
                    min_size, ", ".join(small))
    sets = {t: m for t, m in sets.items() if len(m) >= min_size}
    if not sets:
        raise DEError(f"ssGSEA: no set of {collection.version} has {min_size} genes in the matrix")
    res = gseapy.ssgsea(data=log_expr, gene_sets=sets, outdir=None, sample_norm_method="rank",
                        correl_norm_type="rank", min_size=min_size, max_size=100000,
                        permutation_num=0, weight=weight, threads=threads, no_plot=True,
                        verbose=False).res2d
    table = pd.DataFrame({
        "sample_id": res["Name"].astype(str).to_numpy(),
        "cell_type": res["Term"].astype(str).to_numpy(),
        "score": res["ES"].astype(float).to_numpy() / len(log_expr),
    })
    table["n_genes_set"] = table.cell_type.map({t: len(m) for t, m in sets.items()})
    table["normalisation"] = NORMALISATION
    table["geneset_version"] = collection.version
    return table.sort_values(["cell_type", "sample_id"]).reset_index(drop=True)[SCORE_COLUMNS]


def compare_groups(scores: pd.DataFrame, first: pd.Series, *, first_label: str = "first",
                   second_label: str = "second") -> pd.DataFrame:
    """Wilcoxon rank-sum test of each cell type's score, first vs second group (``first``:
    sample -> bool), BH adjusted; :data:`COMPARISON_COLUMNS`. ``difference`` is the
    Hodges-Lehmann shift (median of all first - second differences)."""
    first = pd.Series(first).astype(bool)
    wide = scores.pivot(index="sample_id", columns="cell_type", values="score")
    absent = first.index.difference(wide.index)
    if len(absent):
        raise DEError(f"immune comparison: {len(absent)} grouped sample(s) have no score: "
                      f"{name_list(absent)}")
    wide = wide.loc[first.index]
    a, b = wide[first.to_numpy()], wide[~first.to_numpy()]
    if min(len(a), len(b)) < 2:
        raise DEError(f"immune comparison needs at least 2 samples per group; the groups have "
                      f"{len(a)} and {len(b)}")
    rows = []
    for cell in wide.columns:
        x, y = a[cell].to_numpy(), b[cell].to_numpy()
        p = stats.mannwhitneyu(x, y, alternative="two-sided").pvalue
        rows.append({"cell_type": cell, "first_group": first_label, "second_group": second_label,
                     "n_first": len(x), "n_second": len(y), "median_first": np.median(x),
                     "median_second": np.median(y),
                     "difference": float(np.median(np.subtract.outer(x, y))), "pval": p})
    table = pd.DataFrame(rows, columns=[c for c in COMPARISON_COLUMNS if c != "padj"])
    table["padj"] = benjamini_hochberg(table.pval)
    return table[COMPARISON_COLUMNS]
