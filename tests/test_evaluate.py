"""hccfusion.evaluate: the validation tables of a recipe from its per-patient predictions, on real
survival (WHAS500) and binary (breast cancer) data with models of known quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sksurv.datasets import load_whas500
from sksurv.linear_model import CoxPHSurvivalAnalysis

from hccfusion.evaluate import (
    COLUMNS,
    COMPARISON_COLUMNS,
    evaluate_predictions,
    surv_column,
)

GRID = list(range(1, 37))


def _cohorts(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).choice(["train_cv", "internal", "external"], size=n,
                                              p=[0.5, 0.25, 0.25])


@pytest.fixture(scope="module")
def whas():
    X, y = load_whas500()
    X = X[["age", "bmi", "hr", "sysbp", "diasbp"]].astype(float)
    time_m = y["lenfol"] / 30.4375
    cohorts = _cohorts(len(X))
    train = cohorts == "train_cv"
    yy = np.array(list(zip(y["fstat"], time_m, strict=True)),
                  dtype=[("event", bool), ("time", float)])
    good = CoxPHSurvivalAnalysis().fit(X[train], yy[train])
    rng = np.random.default_rng(1)
    rows = []
    for comp, risk, surv in (
        ("fusion", good.predict(X), good.predict_survival_function(X, return_array=False)),
        ("radiomics", rng.normal(size=len(X)), None),
    ):
        frame = pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(len(X))],
                              "cohort": cohorts, "component": comp, "score": risk})
        if surv is None:  # no skill: the training Kaplan-Meier for everyone
            from sksurv.nonparametric import kaplan_meier_estimator

            t, s = kaplan_meier_estimator(yy["event"][train], yy["time"][train])
            km = np.interp(GRID, t, s)
            for m, v in zip(GRID, km, strict=True):
                frame[surv_column(m)] = v
        else:
            for m in GRID:
                frame[surv_column(m)] = [fn(m) for fn in surv]
        rows.append(frame)
    outcomes = pd.DataFrame({"time": time_m, "event": y["fstat"].astype(int)},
                            index=[f"P{i:03d}" for i in range(len(X))])
    return pd.concat(rows, ignore_index=True), outcomes


def test_survival_tables(whas):
    predictions, outcomes = whas
    tables = evaluate_predictions("PRIME-S", "os", "survival", predictions, outcomes,
                                  n_boot=100, seed=3)
    perf = tables["performance"]
    assert list(perf.columns) == COLUMNS
    metrics = set(perf.metric)
    assert {"cindex", "cindex_uno", "ibs"} <= metrics
    assert {f"{m}_{h}m" for m in ("tdauc", "brier") for h in (6, 12, 24, 36)} <= metrics
    ext = perf[(perf.cohort == "external")].set_index(["component", "metric"]).estimate
    # The Cox model on age, heart rate, BP ranks and predicts better than noise / Kaplan-Meier.
    assert ext["fusion", "cindex"] > 0.65 and abs(ext["radiomics", "cindex"] - 0.5) < 0.1
    assert ext["fusion", "brier_12m"] < ext["radiomics", "brier_12m"]
    assert ext["fusion", "ibs"] < ext["radiomics", "ibs"] < 0.3
    finite = perf.dropna(subset=["ci_lower"])
    assert (finite.ci_lower <= finite.estimate + 1e-12).all()
    assert (finite.estimate <= finite.ci_upper + 1e-12).all()
    comp = tables["comparisons"]
    assert list(comp.columns) == COMPARISON_COLUMNS
    row = comp[(comp.cohort == "external") & (comp.reference == "radiomics")].iloc[0]
    assert row.difference > 0.1 and row.p < 0.05 and row.ci_lower > 0
    cal = tables["calibration_summary"]
    assert set(cal.horizon) == {6, 12, 24, 36}
    # The Cox model is calibrated on its own training patients (slope ~1).
    slope = cal[(cal.cohort == "train_cv") & (cal.component == "fusion") & (cal.horizon == 12)]
    assert slope.slope.iloc[0] == pytest.approx(1.0, abs=0.35)
    dca = tables["decision"]
    assert {"fusion", "radiomics", "treat_all", "treat_none"} <= set(dca.model)
    # Same seed, same numbers.
    again = evaluate_predictions("PRIME-S", "os", "survival", predictions, outcomes,
                                 n_boot=100, seed=3)
    pd.testing.assert_frame_equal(again["performance"], perf)


def test_binary_tables():
    X, y = load_breast_cancer(return_X_y=True)
    cohorts = _cohorts(len(y), seed=2)
    train = cohorts == "train_cv"
    good = LogisticRegression(max_iter=5000).fit(X[train][:, :5], y[train])
    ids = [f"P{i:03d}" for i in range(len(y))]
    rng = np.random.default_rng(0)
    predictions = pd.concat([
        pd.DataFrame({"patient_id": ids, "cohort": cohorts, "component": "fusion",
                      "score": good.predict_proba(X[:, :5])[:, 1]}),
        pd.DataFrame({"patient_id": ids, "cohort": cohorts, "component": "clinical",
                      "score": rng.uniform(size=len(y))}),
    ])
    outcomes = pd.DataFrame({"y": y}, index=ids)
    tables = evaluate_predictions("PRIME-R", "response", "binary", predictions, outcomes,
                                  n_boot=200, seed=1)
    perf = tables["performance"].set_index(["cohort", "component", "metric"])
    assert perf.loc[("external", "fusion", "auc"), "estimate"] > 0.9
    assert perf.loc[("external", "fusion", "brier"), "estimate"] < 0.1
    assert perf.loc[("external", "clinical", "brier"), "estimate"] > 0.2
    slope = perf.loc[("train_cv", "fusion", "calibration_slope")]
    assert slope.ci_lower <= 1.0 <= slope.ci_upper
    comp = tables["comparisons"].set_index(["cohort", "reference"])
    ext = comp.loc[("external", "clinical")]
    assert ext.metric == "auc" and ext.p < 1e-6 and ext.ci_lower > 0.2
    curve = tables["calibration"]
    assert set(curve.component) == {"fusion", "clinical"} and curve.horizon.isna().all()
    assert set(tables["decision"].cohort) == {"train_cv", "internal", "external"}


def test_invalid_survival_probabilities_give_no_probability_based_numbers(whas):
    """A component whose survival probabilities leave [0, 1] in a cohort gets NaN Brier and
    IBS and no calibration or decision curve there; its C-index and the other components stay."""
    predictions, outcomes = whas
    broken = predictions.copy()
    rows = (broken.component == "radiomics") & (broken.cohort == "external")
    broken.loc[rows, surv_column(12)] = 1.4
    tables = evaluate_predictions("PRIME-S", "os", "survival", broken, outcomes,
                                  n_boot=50, seed=3)
    perf = tables["performance"].set_index(["cohort", "component", "metric"]).estimate
    assert np.isnan(perf["external", "radiomics", "brier_12m"])
    assert np.isnan(perf["external", "radiomics", "ibs"])
    assert np.isfinite(perf["external", "radiomics", "cindex"])
    assert np.isfinite(perf["external", "fusion", "brier_12m"])
    assert np.isfinite(perf["internal", "radiomics", "brier_12m"])
    cal = tables["calibration"]
    assert cal[(cal.cohort == "external") & (cal.component == "radiomics")].empty
    dca = tables["decision"]
    assert "radiomics" not in set(dca[dca.cohort == "external"].model)
    assert "radiomics" in set(dca[dca.cohort == "internal"].model)
