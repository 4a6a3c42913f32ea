"""Pathway enrichment of a gene ranking or a gene list: GSEA prerank, over-representation,
leading edges.

* GSEA prerank (Subramanian A, Tamayo P, Mootha VK, et al. Gene set enrichment analysis. PNAS
  2005;102:15545-50) by gseapy (Fang Z, Liu X, Peltz G. GSEApy. Bioinformatics 2023;39:
  btac757): weighted Kolmogorov-Smirnov running sum (weight 1) over the genes ranked by the
  differential-expression statistic, gene-set permutation null, NES normalised by the mean of
  the same-signed null ESs, FDR q-values from the NES null. Positive NES = the set is enriched
  at the top of the ranking, i.e. higher in the first group (predicted responders, high risk).
  The leading edge is the set's genes before the running sum's peak (Subramanian 2005).
* Over-representation (ORA): one-sided hypergeometric test (Fisher's exact test) of each set
  among the significant genes of one direction, against the background of all tested genes
  (Rivals I, Personnaz L, Taing L, Potier MC. Bioinformatics 2007;23:401-7); sets are reduced to
  the background first, so genes the assay does not measure cannot inflate the odds; BH adjusted.

Rankings and lists contain gene symbols; sets are :class:`~hccfusion.omics.genesets.
GeneSetCollection`. Every output row carries the collection's version label.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats

from hccfusion.omics.de import benjamini_hochberg
from hccfusion.omics.genesets import GeneSetCollection

__all__ = ["GSEA_COLUMNS", "ORA_COLUMNS", "direction_ranks", "gsea_prerank",
           "leading_edge_genes", "over_representation"]

log = logging.getLogger(__name__)

#: Columns of one GSEA result (``results/tables/gsea.tsv`` adds ``recipe, endpoint`` in front).
GSEA_COLUMNS = ["term", "nes", "pval", "fdr", "leading_edge", "es", "size", "direction_rank",
                "collection", "geneset_version"]
#: Columns of one ORA result.
ORA_COLUMNS = ["direction", "term", "overlap", "set_size", "n_genes", "odds_ratio", "pval",
               "padj", "genes", "collection", "geneset_version"]


def direction_ranks(nes) -> np.ndarray:
    """Rank of each set among the sets with the same NES sign, most enriched first (1, 2, ...):
    the rank a planted "up" pathway has among the sets enriched in the first group."""
    nes = pd.Series(np.asarray(nes, dtype=float))
    up = nes.where(nes > 0).rank(ascending=False, method="min")
    down = nes.where(nes < 0).rank(ascending=True, method="min")
    return up.fillna(down).to_numpy()


def gsea_prerank(ranking: pd.Series, collection: GeneSetCollection, *, permutations: int = 1000,
                 min_size: int = 15, max_size: int = 500, seed: int = 123,
                 threads: int = 1) -> pd.DataFrame:
    """GSEA prerank of ``ranking`` (gene -> statistic) on ``collection``; :data:`GSEA_COLUMNS`.

    Sets with fewer than ``min_size`` or more than ``max_size`` genes in the ranking are not
    tested (gseapy's filter). An empty result (no set of a testable size) is an empty table with
    a warning, not an error: a small matrix may miss every set of one collection.
    """
    import gseapy

    ranking = ranking.astype(float).sort_values(ascending=False, kind="stable")
    sets = collection.restricted(ranking.index)
    sizes = {t: len(m) for t, m in sets.items()}
    testable = {t: m for t, m in sets.items() if min_size <= len(m) <= max_size}
    if not testable:
        log.warning("GSEA: no set of %s has %d-%d genes in the ranking of %d genes; nothing "
                    "tested", collection.version, min_size, max_size, len(ranking))
        return pd.DataFrame(columns=GSEA_COLUMNS)
    res = gseapy.prerank(rnk=ranking, gene_sets=testable, outdir=None, no_plot=True,
                         permutation_num=permutations, min_size=min_size, max_size=max_size,
                         seed=seed, threads=threads, verbose=False).res2d
    table = pd.DataFrame({
        "term": res["Term"].astype(str).to_numpy(),
        "nes": res["NES"].astype(float).to_numpy(),
        "pval": res["NOM p-val"].astype(float).to_numpy(),
        "fdr": res["FDR q-val"].astype(float).to_numpy(),
        "leading_edge": res["Lead_genes"].astype(str).to_numpy(),
        "es": res["ES"].astype(float).to_numpy(),
    })
    table["size"] = table.term.map(sizes).astype(int)
    table["direction_rank"] = direction_ranks(table.nes)
    table["collection"] = collection.name
    table["geneset_version"] = collection.version
    table = table.sort_values(["nes"], ascending=False, kind="stable").reset_index(drop=True)
    return table[GSEA_COLUMNS]


def over_representation(genes, background, collection: GeneSetCollection, *,
                        direction: str = "up", min_size: int = 5,
                        max_size: int = 500) -> pd.DataFrame:
    """ORA of ``genes`` among ``background`` for each set of ``collection``; :data:`ORA_COLUMNS`.

    Sets are reduced to the background and tested when they keep ``min_size``-``max_size``
    genes; p = P(X >= k) for X hypergeometric (population = background, successes = set,
    draws = ``genes``). Genes outside the background are an error (they cannot be drawn).
    """
    background = pd.Index(pd.unique(pd.Index(background)))
    genes = pd.Index(pd.unique(pd.Index(genes)))
    outside = genes.difference(background)
    if len(outside):
        raise ValueError(f"ORA: {len(outside)} gene(s) of the list are not in the background")
    if genes.empty:
        return pd.DataFrame(columns=ORA_COLUMNS)
    sets = collection.restricted(background)
    terms = [t for t, m in sets.items() if min_size <= len(m) <= max_size]
    if not terms:
        return pd.DataFrame(columns=ORA_COLUMNS)
    chosen = set(genes)
    big_n, n = len(background), len(genes)
    hits = [[g for g in sets[t] if g in chosen] for t in terms]
    k = np.array([len(h) for h in hits])
    m = np.array([len(sets[t]) for t in terms])
    pval = stats.hypergeom.sf(k - 1, big_n, m, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Sample odds ratio of the 2x2 table (in set / not) x (in list / not).
        odds = (k * (big_n - m - n + k)) / ((m - k) * (n - k))
    table = pd.DataFrame({
        "direction": direction, "term": terms, "overlap": k, "set_size": m, "n_genes": n,
        "odds_ratio": odds, "pval": pval, "padj": benjamini_hochberg(pval),
        "genes": [";".join(h) for h in hits], "collection": collection.name,
        "geneset_version": collection.version,
    })
    return table.sort_values(["pval", "term"], kind="stable").reset_index(drop=True)[ORA_COLUMNS]


def leading_edge_genes(gsea: pd.DataFrame, *, n_terms: int = 3, max_genes: int = 12,
                       fdr: float = 0.25) -> dict[str, list[str]]:
    """Leading-edge genes of the most enriched sets of each direction (FDR below ``fdr``):
    ``{term: genes}`` for at most ``n_terms`` sets per NES sign, at most ``max_genes`` genes
    each (the leading edge is ordered by the ranking, so these are its strongest genes)."""
    out: dict[str, list[str]] = {}
    sig = gsea[gsea.fdr < fdr]
    for part in (sig[sig.nes > 0].sort_values("nes", ascending=False),
                 sig[sig.nes < 0].sort_values("nes")):
        for row in part.head(n_terms).itertuples():
            genes = [g for g in str(row.leading_edge).split(";") if g and g != "nan"]
            if genes:
                out[row.term] = genes[:max_genes]
    return out
