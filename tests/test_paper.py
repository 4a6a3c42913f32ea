"""Paper figure set: the panels a config produces, and the new panel functions."""

import numpy as np
import pandas as pd
import pytest
import yaml

from hccfusion.figures.features import group_pvalues, plot_feature_heatmap
from hccfusion.figures.km_grid import km_grid_figure
from hccfusion.figures.performance import plot_metric_comparison
from hccfusion.figures.style import figure_style, save
from hccfusion.paper import figure_stems, paper_spec


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
        fig = km_grid_figure(data, row="level", col="cohort", levels=["mono", "combo"])
        assert len(fig.axes) == 4
        assert fig.axes[0].get_title() == "mono: internal"
        save(fig, tmp_path / "km.png")
