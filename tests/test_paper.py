"""Paper figure set: the panels a config produces, and the new panel functions."""

import numpy as np
import pandas as pd
import pytest
import yaml

from hccfusion.figures.features import group_pvalues, plot_feature_heatmap
from hccfusion.figures.km import format_p
from hccfusion.figures.km_grid import km_grid_figure
from hccfusion.figures.performance import plot_metric_comparison
from hccfusion.figures.style import figure_style, save
from hccfusion.paper import figure_stems, paper_spec
from hccfusion.stratify import group_comparison


@pytest.fixture
def config():
    return yaml.safe_load(open("config/config.yaml"))


def test_default_config_stems(config):
    spec = paper_spec(config, omics=True)
    assert spec.response == ("PRIME-R", "response") and spec.survival == ("PRIME-S", "os")
    stems = figure_stems(spec)
    for stem in ("figure3_correlation", "figure4C_roc", "figure5D_timedep",
                 "figure6C_km_external", "figure6D_km_treatment", "figure7C_gsea",
                 "figureS_calibration_PRIME-R_response", "figureS_dca_PRIME-S_os",
                 "figureS_forest_PRIME-S_os_external", "figureS_km_age"):
        assert stem in stems
    assert len(stems) == len(set(stems))
    assert not any(s.startswith("figure7") for s in figure_stems(paper_spec(config, False)))


def test_explicit_and_wrong_recipe(config):
    config["paper"] = {"survival": "PRIME-S/pfs"}
    assert paper_spec(config, omics=False).survival == ("PRIME-S", "pfs")
    config["paper"] = {"survival": "PRIME-S/nope"}
    with pytest.raises(ValueError, match="PRIME-S/nope"):
        paper_spec(config, omics=False)


def test_feature_heatmap_pvalues_and_files(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": np.r_[rng.normal(0, 1, 20), rng.normal(3, 1, 20)],
                      "b": rng.normal(0, 1, 40)})
    groups = pd.Series(["low"] * 20 + ["high"] * 20)
    p = group_pvalues(X, groups)
    assert p["a"] < 1e-4 < p["b"]
    with figure_style():
        files = save(plot_feature_heatmap(X, groups, order=["low", "high"]), tmp_path / "h")
    assert [f.suffix for f in files] == [".pdf", ".png"]
    assert all(f.stat().st_size > 1000 for f in files)


def test_metric_comparison_and_km_grid(tmp_path):
    perf = pd.DataFrame({"component": ["clinical", "fusion"] * 2,
                         "cohort": ["internal"] * 2 + ["external"] * 2, "metric": "cindex",
                         "estimate": [0.6, 0.7, 0.55, 0.65], "ci_lower": 0.5, "ci_upper": 0.8})
    with figure_style():
        fig = plot_metric_comparison(perf, "cindex")
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["clinical", "fusion"]
        with pytest.raises(ValueError):
            plot_metric_comparison(perf, "auc")
        rng = np.random.default_rng(1)
        data = pd.DataFrame({"time": rng.exponential(10, 80), "event": rng.integers(0, 2, 80),
                             "group": np.tile(["low", "high"], 40),
                             "level": np.repeat(["mono", "combo"], 40),
                             "cohort": np.tile(["internal", "internal", "external", "external"],
                                               20)})
        data.loc[0, "time"] = np.nan  # a patient without a time is left out, not an error
        fig = km_grid_figure(data, row="level", col="cohort", levels=["mono", "combo"])
        assert len(fig.axes) == 4
        assert fig.axes[0].get_title() == "mono: internal"
        # Each panel prints the log-rank p and HR of group_comparison on its own patients.
        for ax in fig.axes:
            level, cohort = ax.get_title().split(": ")
            part = data[(data.level == level) & (data.cohort == cohort) & data.time.notna()]
            res = group_comparison(part.time, part.event, part.group)
            text = "\n".join(t.get_text() for t in ax.texts)
            assert f"p {format_p(res['logrank_p'], inline=True)}" in text
            assert f"HR {res['hr']:.2f} ({res['hr_lower']:.2f}\u2013" in text
            labels = [line.get_label() for line in ax.get_lines()]
            for g in ("low", "high"):
                assert f"{g} (n = {int((part.group == g).sum())})" in labels
        save(fig, tmp_path / "km.png")


def test_figure5_leaves_out_unscored_patients(tmp_path, monkeypatch):
    """A model that could not score one training patient must not fail the risk-group heatmap
    (Figure 5E): the patient is left out, as in Figure 6 and the stratify step."""
    import hccfusion.figures.features as features
    from hccfusion.paper import PaperSpec, _figure5

    seen = []

    def heatmap(X, groups, **kw):  # record the groups, then draw as usual
        seen.append(groups)
        return plot_feature_heatmap(X, groups, **kw)

    monkeypatch.setattr(features, "plot_feature_heatmap", heatmap)

    rng = np.random.default_rng(2)
    patients = [f"P{i:02d}" for i in range(12)]
    d = tmp_path / "models" / "R" / "os"
    d.mkdir(parents=True)
    score = rng.normal(size=12)
    score[3] = np.nan
    pd.DataFrame({"patient_id": patients, "cohort": "train_cv", "component": "fusion",
                  "score": score}).to_csv(d / "predictions.tsv", sep="\t", index=False)
    pd.DataFrame({"component": ["fusion"], "cutoff": [0.0],
                  "cutoff_train_cv": [np.nanmedian(score)]}).to_csv(
        d / "cutoffs.tsv", sep="\t", index=False)
    pd.DataFrame({"component": ["clinical", "radiomics"], "block": ["clinical", "radiomics"],
                  "feature": ["age", "glcm"]}).to_csv(d / "selected_features.tsv", sep="\t",
                                                      index=False)
    pd.DataFrame({"block": "fusion", "learner": ["cox", "rsf"], "metric": "cindex",
                  "mean": [0.6, 0.65], "sd": 0.05, "chosen": [False, True]}).to_csv(
        d / "algorithms.tsv", sep="\t", index=False)
    pd.DataFrame({"component": "fusion", "cohort": "internal",
                  "metric": ["cindex", "tdauc_12m", "brier_12m"], "estimate": [0.7, 0.7, 0.2],
                  "ci_lower": [0.6, 0.6, 0.1], "ci_upper": [0.8, 0.8, 0.3]}).to_csv(
        d / "performance.tsv", sep="\t", index=False)
    clinical = pd.DataFrame({"age": rng.normal(60, 8, 12)}, index=patients)
    radiomics = pd.DataFrame({"glcm": rng.normal(size=12)}, index=patients)
    split = pd.Series("train", index=patients)
    config = {"endpoints": {"os": {"type": "survival", "time": "os_days", "event": "os"}}}
    files = _figure5(PaperSpec(response=None, survival=("R", "os")), tmp_path / "models",
                     tmp_path / "out", clinical, radiomics, split, config)
    assert {f.name for f in files} >= {"figure5E_risk_features.pdf",
                                       "figure5E_risk_features.png"}
    (groups,) = seen  # the heatmap was drawn, not the placeholder
    assert "P03" not in groups.index and len(groups) == 11
    assert set(groups) == {"low", "high"}
