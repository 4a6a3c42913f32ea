"""Differential expression and gene rankings (hccfusion.omics.de): DESeq2 on demo counts with
planted signals, the rank test and BH against scipy, the vectorised Cox score against a direct
loop and lifelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy import stats

from hccfusion.demo.transcriptome import read_gmt as demo_read_gmt
from hccfusion.omics.de import (
    DEError,
    benjamini_hochberg,
    cox_ranking,
    deseq2,
    rank_test,
    ranking,
)
from hccfusion.omics.expression import load_expression, log2_expression


@pytest.fixture(scope="module")
def demo(tiny_demo_tables):
    expr = tiny_demo_tables / "expression"
    counts = load_expression(expr / "counts.tsv", "counts")
    samples = pd.read_csv(expr / "samples.tsv", sep="\t").set_index("sample_id").patient_id
    truth = pd.read_csv(expr / "truth.tsv", sep="\t").set_index("patient_id")
    # Oracle groups: the true response logit above its median (the signal the demo plants).
    p = truth.loc[samples.to_numpy(), "true_response_prob"].to_numpy()
    first = pd.Series(p >= np.median(p), index=samples.index)
    return counts, first


def test_bh_matches_the_textbook_example():
    p = [0.01, 0.02, 0.03, 0.04, 0.05, np.nan]
    assert np.allclose(benjamini_hochberg(p)[:5], 0.05) and np.isnan(benjamini_hochberg(p)[5])
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205])
    expected = np.minimum.accumulate((p * 8 / np.arange(1, 9))[::-1])[::-1]
    assert np.allclose(benjamini_hochberg(p), expected)


def test_rank_test_equals_scipy_per_gene():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(30, 12)), index=[f"G{i}" for i in range(30)],
                     columns=[f"S{j}" for j in range(12)])
    x.iloc[0, :6] += 3.0  # G0 higher in the first group
    x.iloc[1] = 1.0  # constant: not tested
    first = pd.Series([True] * 6 + [False] * 6, index=x.columns)
    de = rank_test(x, first).set_index("gene")
    for g in ("G0", "G5", "G17"):
        ref = stats.mannwhitneyu(x.loc[g, first.index[:6]], x.loc[g, first.index[6:]])
        assert de.loc[g, "pval"] == pytest.approx(ref.pvalue)
    assert np.isnan(de.loc["G1", "pval"]) and np.isnan(de.loc["G1", "padj"])
    assert de.loc["G0", "stat"] > 2 and de.loc["G0", "log2fc"] > 2
    tested = de.pval.notna()
    assert np.allclose(de.padj[tested], stats.false_discovery_control(de.pval[tested]))


def test_groups_need_two_samples_each():
    x = pd.DataFrame(np.ones((3, 4)) + np.arange(12).reshape(3, 4), columns=list("abcd"))
    with pytest.raises(DEError, match="at least 2 samples per group; the groups have 1 and 3"):
        rank_test(x, pd.Series([True, False, False, False], index=list("abcd")))
    with pytest.raises(DEError, match="absent from the expression matrix: e"):
        rank_test(x, pd.Series([True, True, False], index=list("abe")))


def test_ranking_breaks_ties_by_fold_change_only():
    de = pd.DataFrame({"gene": list("ABCDE"), "stat": [2.0, 1.0, 1.0, np.nan, -1.0],
                       "log2fc": [0.1, 0.2, 0.9, 1.0, -0.5]})
    r = ranking(de)
    assert list(r.index) == ["A", "C", "B", "E"]  # D untested; C's larger change first
    assert r.is_unique and r["A"] == 2.0 and r["E"] == -1.0  # untied values unchanged
    assert 0.5 < r["B"] < r["C"] < 1.5


def test_deseq2_finds_the_planted_response_genes(demo):
    counts, first = demo
    sets = demo_read_gmt(__import__("hccfusion.demo.transcriptome", fromlist=["x"])
                         .default_genesets_dir() / "h.all.v7.0.symbols.gmt")
    planted = sorted(set(sets["HALLMARK_INFLAMMATORY_RESPONSE"]) & set(counts.index))
    # Genes of no planted set of the demo carry no signal.
    signal = set().union(*(sets[t] for t in (
        "HALLMARK_INFLAMMATORY_RESPONSE", "HALLMARK_TNFA_SIGNALING_VIA_NFKB",
        "HALLMARK_IL6_JAK_STAT3_SIGNALING", "HALLMARK_INTERFERON_ALPHA_RESPONSE",
        "HALLMARK_EPITHELIAL_MESENCHYMAL_TRANSITION", "HALLMARK_HYPOXIA",
        "HALLMARK_GLYCOLYSIS", "HALLMARK_MYC_TARGETS_V1")))
    immune = demo_read_gmt(__import__("hccfusion.demo.transcriptome", fromlist=["x"])
                           .default_genesets_dir() / "Charoentong2017_28immune.gmt")
    signal |= set().union(*immune.values())
    null = sorted(set(counts.index) - signal)[:300]
    # A gene subset keeps the test fast (DESeq2 fits each gene; the trend needs a few hundred).
    # Planted genes stay a small part of it, as in a transcriptome: were they half of it, the
    # median-of-ratios size factors would absorb their change and shift every null gene.
    planted = planted[:50]
    sub = counts.loc[planted + null]
    de = deseq2(sub, first).set_index("gene")
    assert list(de.columns[:3]) == ["base_mean", "log2fc", "lfc_se"]
    # 70 % of the set's genes are planted with log2FC 0.6-1.0 between oracle halves.
    assert de.loc[planted, "log2fc"].median() > 0.3
    assert (de.loc[planted, "padj"] < 0.05).mean() > 0.4
    assert (de.loc[null, "padj"] < 0.05).mean() < 0.05
    assert abs(de.loc[null, "log2fc"].median()) < 0.15
    # Counts and log-CPM rank test agree on the direction of clear changes.
    rt = rank_test(log2_expression(sub, "counts"), first).set_index("gene")
    clear = de.padj < 0.01
    assert clear.sum() >= 10
    assert (np.sign(de.log2fc[clear]) == np.sign(rt.log2fc[clear.index[clear]])).all()


def _cox_score_loop(x, time, event):
    """Breslow score test of one covariate, written as the textbook loop over event times."""
    x = (x - x.mean()) / x.std()
    u = v = 0.0
    for i in np.flatnonzero(event):
        at_risk = time >= time[i]
        xr = x[at_risk]
        u += x[i] - xr.mean()
        v += (xr**2).mean() - xr.mean() ** 2
    return u / np.sqrt(v)


def test_cox_ranking_equals_the_score_test_and_approaches_the_wald_z():
    rng = np.random.default_rng(11)
    n = 150
    genes = rng.normal(size=(4, n))
    hazard = np.exp(0.8 * genes[0] - 0.5 * genes[1])
    time = np.round(rng.exponential(1 / hazard) * 20) + 1  # rounding makes ties
    censor = rng.uniform(0, 40, n)
    event = (time <= censor).astype(int)
    time = np.minimum(time, np.round(censor) + 1)
    expr = pd.DataFrame(genes, index=["UP", "DOWN", "N1", "N2"])
    z = cox_ranking(expr, time, event)
    for k, g in enumerate(expr.index):
        assert z[g] == pytest.approx(_cox_score_loop(genes[k], time, event), rel=1e-9)
        df = pd.DataFrame({"T": time, "E": event, "x": genes[k]})
        wald = CoxPHFitter().fit(df, "T", "E").summary.loc["x", "z"]
        assert z[g] == pytest.approx(wald, abs=0.1 * max(1, abs(wald)))
    assert z["UP"] > 3 and z["DOWN"] < -3
    with pytest.raises(DEError, match="needs events"):
        cox_ranking(expr, time, np.zeros(n))
