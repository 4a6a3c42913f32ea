"""Pathway enrichment (hccfusion.omics.enrichment): the demo's planted pathways are recovered
with their direction and unplanted sets stay at chance; on real TCGA-LIHC tumours the genes
ranked by their Cox association with death put HALLMARK_G2M_CHECKPOINT at the hazardous end;
ORA equals Fisher's exact test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hccfusion.omics.de import cox_ranking, rank_test, ranking
from hccfusion.omics.enrichment import (
    GSEA_COLUMNS,
    direction_ranks,
    gsea_prerank,
    leading_edge_genes,
    over_representation,
)
from hccfusion.omics.expression import load_expression, log2_expression
from hccfusion.omics.genesets import GeneSetCollection, read_gmt

GENESETS = Path(__file__).resolve().parents[1] / "resources" / "genesets"
TCGA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tcga_lihc" / \
    "diffAREGeneexprClin_onlyTumor.txt"
TRUE_SIGNAL = {"response": "true_response_prob", "os": "true_os_lp"}


@pytest.fixture(scope="module")
def hallmark():
    return read_gmt(GENESETS / "h.all.v7.0.symbols.gmt", "hallmark")


@pytest.fixture(scope="module")
def demo_rankings(tiny_demo_tables):
    """Per endpoint: genes ranked by the rank test (log2 CPM) between the halves of the true
    signal, the groups the demo plants its pathways by (33 matched patients)."""
    expr = tiny_demo_tables / "expression"
    counts = load_expression(expr / "counts.tsv", "counts")
    logx = log2_expression(counts, "counts")
    samples = pd.read_csv(expr / "samples.tsv", sep="\t").set_index("sample_id").patient_id
    truth = pd.read_csv(expr / "truth.tsv", sep="\t").set_index("patient_id")
    out = {}
    for endpoint, column in TRUE_SIGNAL.items():
        s = truth.loc[samples.to_numpy(), column].to_numpy()
        first = pd.Series(s >= np.median(s), index=samples.index)
        out[endpoint] = ranking(rank_test(logx, first))
    planted = pd.read_csv(expr / "planted_pathways.tsv", sep="\t")
    return out, planted


def test_direction_ranks():
    assert direction_ranks([3.0, -1.0, 2.0, -2.5, 0.5]).tolist() == [1, 2, 2, 1, 3]


def test_planted_pathways_rank_top5_with_their_direction(demo_rankings, hallmark):
    rankings, planted = demo_rankings
    for endpoint, rnk in rankings.items():
        gsea = gsea_prerank(rnk, hallmark, permutations=500, seed=1).set_index("term")
        assert list(gsea.reset_index().columns) == GSEA_COLUMNS
        assert gsea.geneset_version.iloc[0].startswith("h.all.v7.0.symbols.gmt sha256:")
        for row in planted[planted.endpoint == endpoint].itertuples():
            hit = gsea.loc[row.term]
            sign = 1 if row.direction == "up" else -1
            assert np.sign(hit.nes) == sign, (endpoint, row.term, hit.nes)
            assert hit.direction_rank <= 5, (endpoint, row.term, hit.direction_rank)
            assert hit.fdr < 0.05
            # The leading edge holds set members only.
            assert set(hit.leading_edge.split(";")) <= set(hallmark.sets[row.term])


def test_unplanted_sets_are_significant_no_more_often_than_chance(demo_rankings, hallmark):
    """Hallmark sets share genes (e.g. interferon alpha and gamma), and a set holding planted
    genes is truly enriched. The null sets are the unplanted ones without the genes of any
    planted set; their FDR < 0.05 count must be within the binomial 99 % bound of 5 %."""
    rankings, planted = demo_rankings
    planted_genes = set().union(*(hallmark.sets[t] for t in planted.term))
    null = GeneSetCollection("null", {
        t: [g for g in m if g not in planted_genes]
        for t, m in hallmark.sets.items() if t not in set(planted.term)}, "test")
    hits = total = 0
    for rnk in rankings.values():
        gsea = gsea_prerank(rnk, null, permutations=500, seed=2)
        hits += int((gsea.fdr < 0.05).sum())
        total += len(gsea)
    assert total >= 80
    assert hits <= stats.binom.ppf(0.99, total, 0.05), (hits, total)


@pytest.mark.skipif(not TCGA.is_file(), reason="../shared/data (TCGA-LIHC) is absent")
def test_tcga_lihc_cox_ranking_puts_g2m_checkpoint_at_the_hazardous_end(hallmark):
    table = pd.read_csv(TCGA, sep="\t")
    genes = table.columns[11:]  # fullid ... N, then 189 log2 FPKM genes
    assert len(table) == 363 and len(genes) == 189
    expr = table[genes].T.set_axis(table["id"], axis=1)
    z = cox_ranking(expr, table["futime"], table["fustat"])
    # 189 genes cover a Hallmark set by 5-12 genes: the set size floor is lowered to 5.
    gsea = gsea_prerank(z.sort_values(ascending=False), hallmark, permutations=1000,
                        min_size=5, seed=7).set_index("term")
    g2m = gsea.loc["HALLMARK_G2M_CHECKPOINT"]
    assert g2m.nes > 0 and g2m.fdr < 0.05
    assert g2m.direction_rank == 1


def test_ora_equals_fishers_exact_test(hallmark):
    background = sorted({g for m in hallmark.sets.values() for g in m})[:3000]
    rng = np.random.default_rng(4)
    hypoxia = [g for g in hallmark.sets["HALLMARK_HYPOXIA"] if g in set(background)]
    chosen = list(rng.choice(hypoxia, 25, replace=False)) + \
        list(rng.choice([g for g in background if g not in hypoxia], 75, replace=False))
    ora = over_representation(chosen, background, hallmark).set_index("term")
    assert ora.index[0] == "HALLMARK_HYPOXIA" and ora.padj.iloc[0] < 1e-6
    for term in ("HALLMARK_HYPOXIA", "HALLMARK_APOPTOSIS"):
        members = set(hallmark.sets[term]) & set(background)
        k = len(members & set(chosen))
        table = [[k, len(members) - k], [len(chosen) - k, len(background) - len(members)
                                          - len(chosen) + k]]
        assert ora.loc[term, "pval"] == pytest.approx(
            stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-8)
        assert ora.loc[term, "overlap"] == k and ora.loc[term, "set_size"] == len(members)
    with pytest.raises(ValueError, match="not in the background"):
        over_representation(["NOT_A_GENE"], background, hallmark)


def test_leading_edge_genes_of_the_most_enriched_sets():
    gsea = pd.DataFrame({"term": ["A", "B", "C", "D"], "nes": [2.5, 1.5, -2.0, 1.0],
                         "fdr": [0.01, 0.2, 0.01, 0.5],
                         "leading_edge": ["g1;g2;g3", "g4", "g5;g6", "g7"]})
    out = leading_edge_genes(gsea, n_terms=1, max_genes=2)
    assert out == {"A": ["g1", "g2"], "C": ["g5", "g6"]}
