"""Immune infiltration (hccfusion.omics.immune) and the predicted groups (hccfusion.omics.groups):
ssGSEA scores are sample-independent, the demo's planted immune cell types differ between the
groups of the true signal, the Wilcoxon/BH comparison equals scipy's; groups are oriented so
that the first is predicted responders or high risk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hccfusion.omics.de import DEError
from hccfusion.omics.expression import load_expression, log2_expression
from hccfusion.omics.genesets import read_gmt
from hccfusion.omics.groups import contrast_labels, predicted_groups
from hccfusion.omics.immune import NORMALISATION, SCORE_COLUMNS, compare_groups, ssgsea_scores

GENESETS = Path(__file__).resolve().parents[1] / "resources" / "genesets"


@pytest.fixture(scope="module")
def immune():
    return read_gmt(GENESETS / "Charoentong2017_28immune.gmt", "immune")


@pytest.fixture(scope="module")
def demo_scores(tiny_demo_tables, immune):
    expr = tiny_demo_tables / "expression"
    logx = log2_expression(load_expression(expr / "counts.tsv", "counts"), "counts")
    samples = pd.read_csv(expr / "samples.tsv", sep="\t").set_index("sample_id").patient_id
    truth = pd.read_csv(expr / "truth.tsv", sep="\t").set_index("patient_id")
    return logx, ssgsea_scores(logx, immune), samples, truth, \
        pd.read_csv(expr / "planted_immune.tsv", sep="\t")


def test_scores_are_sample_independent_and_record_their_normalisation(demo_scores, immune):
    logx, scores, *_ = demo_scores
    assert list(scores.columns) == SCORE_COLUMNS
    assert scores.cell_type.nunique() == 28 and scores.sample_id.nunique() == logx.shape[1]
    assert (scores.normalisation == NORMALISATION).all()
    assert scores.geneset_version.iloc[0].startswith("Charoentong2017_28immune.gmt sha256:")
    # A sample scored alone gets the score it has in the cohort.
    few = ssgsea_scores(logx.iloc[:, :2], immune)
    merged = few.merge(scores, on=["sample_id", "cell_type"])
    assert len(merged) == 56 and np.allclose(merged.score_x, merged.score_y)


def test_planted_immune_cells_differ_in_the_planted_direction(demo_scores):
    logx, scores, samples, truth, planted = demo_scores
    column = {"response": "true_response_prob", "os": "true_os_lp"}
    for endpoint in ("response", "os"):
        s = truth.loc[samples.to_numpy(), column[endpoint]].to_numpy()
        first = pd.Series(s >= np.median(s), index=samples.index)
        table = compare_groups(scores, first).set_index("cell_type")
        for row in planted[planted.endpoint == endpoint].itertuples():
            sign = 1 if row.direction == "up" else -1
            assert np.sign(table.loc[row.cell_type, "difference"]) == sign
            if endpoint == "response":  # four strong signals; the os one (MDSC) is weaker
                assert table.loc[row.cell_type, "padj"] < 0.05, row.cell_type


def test_comparison_equals_scipy_and_bh():
    rng = np.random.default_rng(0)
    samples = [f"S{i}" for i in range(10)]
    scores = pd.DataFrame([(s, c, rng.normal() + (2 if c == "A" and i < 5 else 0))
                           for i, s in enumerate(samples) for c in "ABC"],
                          columns=["sample_id", "cell_type", "score"])
    first = pd.Series([True] * 5 + [False] * 5, index=samples)
    table = compare_groups(scores, first).set_index("cell_type")
    wide = scores.pivot(index="sample_id", columns="cell_type", values="score")
    for c in "ABC":
        p = stats.mannwhitneyu(wide.loc[samples[:5], c], wide.loc[samples[5:], c]).pvalue
        assert table.loc[c, "pval"] == pytest.approx(p)
    assert np.allclose(table.padj, stats.false_discovery_control(table.pval))
    assert table.loc["A", "difference"] > 0 and table.loc["A", "n_first"] == 5


def test_groups_put_predicted_responders_and_high_risk_first():
    endpoints = {"response": {"type": "binary", "event": "response_3m"},
                 "os": {"type": "survival", "time": "os_days", "event": "os_event"}}
    pred = pd.DataFrame({
        "patient_id": ["P1", "P2", "P1", "P2", "P1"],
        "recipe": ["R", "R", "S", "S", "S"],
        "endpoint": ["response", "response", "os", "os", "os"],
        "component": ["fusion"] * 4 + ["clinical"],
        "score": [0.9, 0.1, 2.0, -1.0, 0.0],
        # predict(): a high probability of (favourable) response is the LOW-risk group.
        "risk_group": ["low", "high", "high", "low", "low"],
    })
    samples = pd.Series({"s1": "P1", "s2": "P2"})
    groups = predicted_groups(pred, samples, endpoints).set_index(["recipe", "sample_id"])
    assert groups.loc[("R", "s1"), "group"] == "predicted response"
    assert bool(groups.loc[("R", "s1"), "first"]) and not groups.loc[("R", "s2"), "first"]
    assert groups.loc[("S", "s1"), "group"] == "high risk" and groups.loc[("S", "s1"), "first"]
    assert len(groups) == 4  # the clinical component is not used
    assert contrast_labels("pfs", endpoints["os"]) == ("high risk", "low risk")
    with pytest.raises(ValueError, match="no predictions of component 'deep'"):
        predicted_groups(pred, samples, endpoints, component="deep")


def test_unscored_grouped_samples_are_named():
    scores = pd.DataFrame([(s, c, 0.0) for s in ("S1", "S2", "S3", "S4") for c in "AB"],
                          columns=["sample_id", "cell_type", "score"])
    first = pd.Series([True, True, False, False, True], index=["S1", "S2", "S3", "S4", "S9"])
    with pytest.raises(DEError, match=r"1 grouped sample\(s\) have no score: S9"):
        compare_groups(scores, first)


def test_matched_patient_without_a_prediction_is_named():
    endpoints = {"os": {"type": "survival", "time": "os_days", "event": "os_event"}}
    pred = pd.DataFrame({"patient_id": ["P1"], "recipe": ["S"], "endpoint": ["os"],
                         "component": ["fusion"], "score": [1.0], "risk_group": ["high"]})
    with pytest.raises(ValueError, match="no fusion prediction of S os for matched patient"
                                         r"\(s\) P2"):
        predicted_groups(pred, pd.Series({"s1": "P1", "s2": "P2"}), endpoints)
