"""Evaluation figures (ROC, calibration, decision curves, time-dependent metrics) on real data."""

from __future__ import annotations

from functools import cache

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.datasets import load_whas500
from sksurv.linear_model import CoxPHSurvivalAnalysis

from hccfusion.calibration import (
    binary_calibration_curve,
    binary_calibration_smooth,
    binary_calibration_summary,
    survival_calibration_curve,
    survival_calibration_summary,
)
from hccfusion.decision_curve import decision_curve
from hccfusion.figures.calibration import plot_binary_calibration, plot_survival_calibration
from hccfusion.figures.decision import plot_decision_curve
from hccfusion.figures.roc import plot_roc
from hccfusion.figures.style import COMPONENT_COLOURS, save
from hccfusion.figures.timedep import plot_time_dependent
from hccfusion.metrics import auc_ci, brier_ci, td_auc_ci


@cache
def _binary_predictions() -> pd.DataFrame:
    """Breast cancer: a 'clinical' model (3 features) and a 'radiomics' one (all 30), scored on
    an 'internal' and an 'external' half of the held-out patients; long format."""
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    rows = []
    for component, cols in (("clinical", [0, 1, 2]), ("radiomics", slice(None))):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=5000))
        prob = model.fit(X_tr[:, cols], y_tr).predict_proba(X_te[:, cols])[:, 1]
        half = np.arange(len(y_te)) % 2
        for cohort, k in (("internal", 0), ("external", 1)):
            rows.append(
                pd.DataFrame(
                    {
                        "cohort": cohort,
                        "component": component,
                        "outcome": y_te[half == k],
                        "score": prob[half == k],
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


@cache
def _whas_models():
    """WHAS500 split in two; Cox models on age only ('clinical') and on all covariates."""
    X, y = load_whas500()
    X = X.astype(float)
    idx = np.random.default_rng(0).permutation(len(y))
    tr, te = idx[:300], idx[300:]
    out = {}
    for component, cols in (("clinical", ["age"]), ("fusion", list(X.columns))):
        model = CoxPHSurvivalAnalysis(alpha=1e-4).fit(X.iloc[tr][cols], y[tr])
        out[component] = (
            model.predict(X.iloc[te][cols]),
            model.predict_survival_function(X.iloc[te][cols]),
        )
    return y[tr], y[te], out


def _check_saved(fig, path):
    assert isinstance(fig, Figure)
    written = save(fig, path)
    assert [p.suffix for p in written] == [".pdf", ".png"]
    assert written[0].read_bytes()[:5] == b"%PDF-" and written[0].stat().st_size > 1000
    assert written[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and written[1].stat().st_size > 1000


def _legend_texts(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts]


def test_roc_per_cohort_with_auc_ci_in_legend(tmp_path):
    data = _binary_predictions()
    fig = plot_roc(data)
    assert [ax.get_title() for ax in fig.axes] == ["internal", "external"]  # fixed cohort order
    sub = data[(data.cohort == "external") & (data.component == "radiomics")]
    est, lo, hi = auc_ci(sub.outcome, sub.score)
    assert f"radiomics: AUC {est:.2f} ({lo:.2f}\u2013{hi:.2f})" in _legend_texts(fig)
    line = next(ln for ln in fig.axes[1].lines if ln.get_label().startswith("radiomics"))
    assert mcolors.same_color(line.get_color(), COMPONENT_COLOURS["radiomics"])
    _check_saved(fig, tmp_path / "roc")
    # one panel per component, one curve per cohort
    fig = plot_roc(data, panel="component", hue="cohort", title="ROC")
    assert [ax.get_title() for ax in fig.axes] == ["clinical", "radiomics"]
    _check_saved(fig, tmp_path / "roc_by_component")


def test_binary_calibration_plot(tmp_path):
    data = _binary_predictions()
    data = data[data.component == "radiomics"]
    curves, smooths, summaries = [], [], []
    for cohort, grp in data.groupby("cohort"):
        curves.append(binary_calibration_curve(grp.outcome, grp.score, 5).assign(cohort=cohort))
        smooths.append(binary_calibration_smooth(grp.outcome, grp.score).assign(cohort=cohort))
        summaries.append(binary_calibration_summary(grp.outcome, grp.score).assign(cohort=cohort))
    summary = pd.concat(summaries)
    fig = plot_binary_calibration(pd.concat(curves), smooth=pd.concat(smooths), summary=summary)
    texts = _legend_texts(fig)
    assert "perfect calibration" in texts
    assert any(t.startswith("internal: slope ") for t in texts)
    diagonal = fig.axes[0].lines[0]
    np.testing.assert_allclose(diagonal.get_xydata(), [[0, 0], [1, 1]])
    _check_saved(fig, tmp_path / "calibration_binary")


def test_survival_calibration_plot(tmp_path):
    y_tr, y_te, models = _whas_models()
    horizon = 365.0
    frames, summaries = [], []
    for component, (_, fns) in models.items():
        surv = np.array([fn(horizon) for fn in fns])
        t, e = y_te["lenfol"], y_te["fstat"]
        frames.append(survival_calibration_curve(t, e, surv, horizon).assign(component=component))
        summaries.append(
            survival_calibration_summary(t, e, surv, horizon).assign(component=component)
        )
    curve = pd.concat(frames, ignore_index=True)
    curve.loc[0, ["observed", "observed_lower", "observed_upper"]] = np.nan  # a group with no KM
    fig = plot_survival_calibration(
        curve, horizon=12, hue="component", summary=pd.concat(summaries)
    )
    assert fig.axes[0].get_xlabel() == "Predicted survival at 12 months"
    assert any(t.startswith("fusion: slope") for t in _legend_texts(fig))
    _check_saved(fig, tmp_path / "calibration_survival")


def test_decision_curve_plot(tmp_path):
    data = _binary_predictions()
    frames = []
    for cohort, grp in data.groupby("cohort"):
        outcome = grp[grp.component == "clinical"].outcome.to_numpy()
        scores = {c: grp[grp.component == c].score.to_numpy() for c in ("clinical", "radiomics")}
        frames.append(
            decision_curve(outcome, scores, np.arange(0, 0.95, 0.05), n_boot=30).assign(
                cohort=cohort
            )
        )
    fig = plot_decision_curve(pd.concat(frames), panel="cohort")
    assert len(fig.axes) == 2 and fig.axes[0].get_ylabel() == "Net benefit"
    labels = {ln.get_label() for ln in fig.axes[0].lines}
    assert {"clinical", "radiomics", "Treat all", "Treat none"} <= labels
    assert fig.axes[0].collections  # CI bands
    _check_saved(fig, tmp_path / "dca")


def test_time_dependent_plot(tmp_path):
    y_tr, y_te, models = _whas_models()
    horizons = np.array([90.0, 365.0, 730.0, 1095.0])
    args = (y_tr["lenfol"], y_tr["fstat"], y_te["lenfol"], y_te["fstat"])
    auc, brier = [], []
    for component, (risk, fns) in models.items():
        surv = np.array([fn(horizons) for fn in fns])
        auc.append(td_auc_ci(*args, risk, horizons, n_boot=20).assign(component=component))
        brier.append(brier_ci(*args, surv, horizons, n_boot=20).assign(component=component))
    fig = plot_time_dependent(pd.concat(auc), pd.concat(brier), time_unit="days")
    assert [ax.get_ylabel() for ax in fig.axes] == ["Time-dependent AUC", "Brier score"]
    fusion = next(ln for ln in fig.axes[0].lines if ln.get_label() == "fusion")
    assert mcolors.same_color(fusion.get_color(), COMPONENT_COLOURS["fusion"])
    np.testing.assert_allclose(fusion.get_xdata(), horizons)
    _check_saved(fig, tmp_path / "timedep")
    fig = plot_time_dependent(pd.concat(auc))  # AUC only
    assert len(fig.axes) == 1
    _check_saved(fig, tmp_path / "tdauc")
    with pytest.raises(ValueError):
        plot_time_dependent()


def test_algorithm_comparison_plot(tmp_path):
    from hccfusion.figures.algorithms import plot_algorithm_comparison
    from hccfusion.models.learners import LearnerSearch, candidates

    X, y = load_breast_cancer(return_X_y=True)
    cfg = {"learners_binary": ["elastic_net", "adaboost"], "inner_folds": 3,
           "grids": {"adaboost": {"n_estimators": [20], "learning_rate": [0.5]}}}
    tables = []
    for block, cols in (("clinical", [0, 1, 2]), ("radiomics", slice(None))):
        search = LearnerSearch(candidates("binary", cfg, 0), kind="binary", cv=3,
                               random_state=0).fit(StandardScaler().fit_transform(X[:, cols]), y)
        tables.append(search.learner_scores_.assign(block=block))
    table = pd.concat(tables, ignore_index=True)
    fig = plot_algorithm_comparison(table, title="PRIME-R response")
    assert [ax.get_title() for ax in fig.axes] == ["clinical", "radiomics"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["elastic_net", "adaboost"]
    for ax, (_, rows) in zip(fig.axes, table.groupby("block", sort=False), strict=True):
        chosen = [c for c in ax.collections if c.get_label() == "chosen"][0]
        np.testing.assert_allclose(chosen.get_offsets()[:, 0], rows["mean"][rows.chosen])
    assert fig.axes[0].get_xlabel() == "Inner-CV AUC"
    _check_saved(fig, tmp_path / "algorithms")
    with pytest.raises(KeyError, match="chosen"):
        plot_algorithm_comparison(table.drop(columns="chosen"))
