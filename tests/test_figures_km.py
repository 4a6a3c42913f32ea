"""Kaplan-Meier and forest figures (hccfusion.figures.km) on the GBSG2 breast-cancer cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sksurv.datasets import load_gbsg2

from hccfusion.figures.km import forest_figure, format_p, km_figure
from hccfusion.stratify import (
    group_comparison,
    risk_cutoff,
    risk_groups,
    stratification_rows,
    subgroup_analysis,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cohort():
    X, y = load_gbsg2()
    frame = X.reset_index(drop=True).copy()
    frame["time"], frame["event"] = y["time"] / 30.44, y["cens"].astype(int)
    cut = risk_cutoff(frame["pnodes"].iloc[:400])
    frame["group"] = risk_groups(frame["pnodes"], cut)
    return frame, cut


def _written(paths):
    for p in paths:
        assert p.exists() and p.stat().st_size > 5_000, p
    pdf = [p for p in paths if p.suffix == ".pdf"][0].read_bytes()
    png = [p for p in paths if p.suffix == ".png"][0].read_bytes()
    assert pdf.startswith(b"%PDF") and png.startswith(PNG_MAGIC)


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_km_figure_has_curves_bands_at_risk_table_and_annotation(cohort, tmp_path):
    frame, _ = cohort
    fig = km_figure(frame["time"], frame["event"], frame["group"], "GBSG2",
                    xlabel="Time (months)", xticks=[0, 20, 40, 60, 80], path=tmp_path / "km")
    _written([tmp_path / "km.pdf", tmp_path / "km.png"])
    main = fig.axes[0]
    labels = [line.get_label() for line in main.get_lines()]
    n_low, n_high = (int((frame["group"] == g).sum()) for g in ("low", "high"))
    assert f"Low risk (n = {n_low})" in labels and f"High risk (n = {n_high})" in labels
    assert len(main.collections) >= 2  # the two confidence bands
    # The at-risk table: a second axes whose first tick label lists both groups at time 0.
    assert len(fig.axes) == 2
    first = fig.axes[1].get_xticklabels()[0].get_text()
    assert "At risk" in first and str(n_low) in first and str(n_high) in first
    res = group_comparison(frame["time"], frame["event"], frame["group"])
    note = next(t for t in _texts(fig) if t.startswith("Log-rank"))
    assert f"HR {res['hr']:.2f} (95% CI {res['hr_lower']:.2f}" in note
    assert f"p {format_p(res['logrank_p'], inline=True)}" in note


def test_km_figure_single_group_is_drawn_with_the_reason(cohort, tmp_path):
    frame, _ = cohort
    fig = km_figure(frame["time"], frame["event"], ["high"] * len(frame), "one group",
                    path=tmp_path / "one.png")
    assert (tmp_path / "one.png").read_bytes().startswith(PNG_MAGIC)
    assert any("only the high-risk group" in t for t in _texts(fig))


def test_forest_figure_from_subgroup_table_and_from_long_rows(cohort, tmp_path):
    frame, cut = cohort
    frame = frame.assign(all_high=np.where(frame["pnodes"] > 10, "many", "few"))
    subgroups = {"Hormone therapy": "horTh", "Age": {"column": "age", "cut": 65},
                 "Nodes": "all_high"}
    table = subgroup_analysis(frame, subgroups, "time", "event", "group")
    fig = forest_figure(table, title="GBSG2", path=tmp_path / "forest")
    _written([tmp_path / "forest.pdf", tmp_path / "forest.png"])
    texts = _texts(fig)
    # The level where everyone is high risk is printed, as not estimable.
    assert "not estimable" in texts and "many" in texts
    assert sum(t.startswith("p for interaction") for t in texts) == 3
    row = table[table["level"] == "yes"].iloc[0]
    assert f"{row['hr']:.2f} ({row['ci_lower']:.2f}\u2013{row['ci_upper']:.2f})" in texts

    rows = stratification_rows("r", "fusion", "rfs", "external", frame["pnodes"], cut,
                               frame["time"], frame["event"], frame, subgroups=subgroups)
    fig = forest_figure(rows, path=tmp_path / "forest_long.png")
    assert (tmp_path / "forest_long.png").stat().st_size > 5_000
    assert "All patients" in _texts(fig)
    with pytest.raises(ValueError, match="one recipe"):
        forest_figure(pd.concat([rows, rows.assign(cohort="internal")]))


def test_format_p():
    assert format_p(0.0004) == "< 0.001"
    assert format_p(0.0123) == "0.012" and format_p(0.0123, inline=True) == "= 0.012"
    assert format_p(float("nan")) == "NA"
    # Table 1 leaves a missing p blank.
    assert format_p(None, missing="") == "" and format_p(0.5, missing="") == "0.500"
