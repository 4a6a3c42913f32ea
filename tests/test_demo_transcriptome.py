"""Demo cohort: matched RNA-seq counts and their planted pathway / immune signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.demo.transcriptome import default_genesets_dir, read_gmt


@pytest.fixture(scope="module")
def expression(tiny_demo_tables):
    root = tiny_demo_tables / "expression"
    counts = pd.read_csv(root / "counts.tsv", sep="\t").set_index("gene")
    samples = pd.read_csv(root / "samples.tsv", sep="\t")
    truth = pd.read_csv(root / "truth.tsv", sep="\t").set_index("patient_id")
    truth = truth.loc[samples["patient_id"]]
    truth.index = samples["sample_id"]
    logcpm = np.log2((counts + 0.5) / (counts.sum() + 1.0) * 1e6)
    return {
        "counts": counts, "logcpm": logcpm[truth.index], "truth": truth,
        "pathways": pd.read_csv(root / "planted_pathways.tsv", sep="\t"),
        "immune": pd.read_csv(root / "planted_immune.tsv", sep="\t"),
    }


@pytest.fixture(scope="module")
def genesets():
    d = default_genesets_dir()
    return read_gmt(d / "h.all.v7.0.symbols.gmt"), read_gmt(d / "Charoentong2017_28immune.gmt")


def _signal(truth: pd.DataFrame, endpoint: str) -> pd.Series:
    if endpoint == "response":
        p = truth["true_response_prob"]
        return np.log(p / (1 - p))
    return truth["true_os_lp"]


def _half_difference(logcpm: pd.DataFrame, genes: list[str], signal: pd.Series) -> float:
    """Mean log-CPM of a gene set in the upper minus the lower half of the true signal."""
    upper = signal > signal.median()
    score = logcpm.loc[logcpm.index.intersection(genes)].mean()
    return float(score[upper].mean() - score[~upper].mean())


def test_counts_are_realistic(expression, genesets):
    counts = expression["counts"]
    hallmark, immune = genesets
    universe = {g for s in (*hallmark.values(), *immune.values()) for g in s}
    assert set(counts.index) == universe and len(counts) > 4000
    assert (counts.to_numpy() >= 0).all()
    lib = counts.sum()
    assert lib.between(2e6, 40e6).all()  # listed genes are part of 20-40 M read libraries
    # Overdispersion: variance exceeds the Poisson mean for well-expressed genes.
    cpm = counts / lib * lib.mean()
    high = cpm[cpm.mean(axis=1) > 500]
    assert (high.var(axis=1) > 2 * high.mean(axis=1)).mean() > 0.8


def test_planted_terms_exist(expression, genesets):
    hallmark, immune = genesets
    assert set(expression["pathways"]["term"]) <= set(hallmark)
    assert set(expression["immune"]["cell_type"]) <= set(immune)
    assert set(expression["pathways"]["endpoint"]) == {"response", "os"}
    assert set(expression["pathways"]["direction"]) <= {"up", "down"}


def test_planted_sets_differ_between_true_halves(expression, genesets):
    hallmark, immune = genesets
    logcpm, truth = expression["logcpm"], expression["truth"]
    planted = [(r.endpoint, hallmark[r.term], r.direction)
               for r in expression["pathways"].itertuples()]
    planted += [(r.endpoint, immune[r.cell_type], r.direction)
                for r in expression["immune"].itertuples()]
    for endpoint, genes, direction in planted:
        diff = _half_difference(logcpm, genes, _signal(truth, endpoint))
        assert diff * (1 if direction == "up" else -1) > 0.25, (endpoint, genes[:3], diff)


def test_unplanted_genes_carry_no_signal(expression, genesets):
    hallmark, immune = genesets
    logcpm, truth = expression["logcpm"], expression["truth"]
    planted_genes = set()
    for r in expression["pathways"].itertuples():
        planted_genes |= set(hallmark[r.term])
    for r in expression["immune"].itertuples():
        planted_genes |= set(immune[r.cell_type])
    for endpoint in ("response", "os"):
        signal = _signal(truth, endpoint)
        for term in ("HALLMARK_OXIDATIVE_PHOSPHORYLATION", "HALLMARK_BILE_ACID_METABOLISM",
                     "HALLMARK_PEROXISOME", "HALLMARK_SPERMATOGENESIS"):
            genes = [g for g in hallmark[term] if g not in planted_genes]
            assert len(genes) > 30
            assert abs(_half_difference(logcpm, genes, signal)) < 0.1, (endpoint, term)


@pytest.mark.parametrize("endpoint", ["response", "os"])
def test_planted_pathways_rank_at_the_top(expression, genesets, endpoint):
    """A prerank-style ordering of Hallmark sets (mean per-gene correlation with the true
    signal) puts the planted sets of the endpoint at the top."""
    hallmark, _ = genesets
    logcpm, truth = expression["logcpm"], expression["truth"]
    signal = _signal(truth, endpoint)
    x = logcpm.sub(logcpm.mean(axis=1), axis=0)
    s = signal - signal.mean()
    r = (x @ s) / (np.sqrt((x**2).sum(axis=1)) * np.sqrt((s**2).sum()) + 1e-12)
    scores = {t: r.loc[r.index.intersection(g)].mean() for t, g in hallmark.items()}
    ranking = sorted(scores, key=scores.get, reverse=True)
    pw = expression["pathways"]
    planted = set(pw.loc[pw["endpoint"] == endpoint, "term"])
    assert set(ranking[:len(planted) + 2]) >= planted, ranking[:8]
