"""Learner search: it picks the learner that is clearly better, scores staged ensembles exactly,
freezes its choice for the late-fusion folds; Breslow survival probabilities of FastSurvivalSVM;
config defaults equal the code's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sksurv.util import Surv

from hccfusion.config import load_schema
from hccfusion.models import component_pipeline
from hccfusion.models.breslow import FastSurvivalSVMBreslow, step_values
from hccfusion.models.learners import (
    BINARY_LEARNERS,
    DEFAULT_GRIDS,
    SURVIVAL_LEARNERS,
    LearnerSearch,
    candidates,
    frozen,
    harrell_c,
    make_learner,
)
from hccfusion.models.rotation_forest import RotationForestClassifier
from hccfusion.selection import SELECTION_DEFAULTS

CFG = {"inner_folds": 3, "Cs": [0.1, 1.0],
       "grids": {"sgb": {"n_estimators": [20, 60], "max_depth": [2], "subsample": [0.7]},
                 "rotation_forest": {"n_estimators": [10]},
                 "gbsa": {"n_estimators": [30, 80], "max_depth": [2]},
                 "rsf": {"n_estimators": [40], "min_samples_leaf": [5]},
                 "fast_svm": {"alpha": [1.0]}}}


def _xor(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = ((X[:, 0] * X[:, 1] > 0) ^ (rng.random(n) < 0.05)).astype(int)
    return X, y


def _cox_data(n=300, seed=0, quadratic=False, baseline=1 / 800):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    lp = 1.2 * X[:, 0] ** 2 - 1.2 if quadratic else 0.9 * X[:, 0] - 0.6 * X[:, 1]
    t = rng.exponential(size=n) / (baseline * np.exp(lp))
    c = rng.uniform(200, 3000, n)
    return X, Surv.from_arrays(event=t <= c, time=np.minimum(t, c)), lp


def _search(kind, names, seed=0):
    cfg = {**CFG, "learners_binary": names, "learners_survival": names}
    return LearnerSearch(candidates(kind, cfg, seed), kind=kind, cv=3, random_state=seed)


def test_search_picks_the_clearly_better_binary_learner():
    X, y = _xor()
    search = _search("binary", ["elastic_net", "rotation_forest", "sgb"]).fit(X, y)
    scores = search.learner_scores_.set_index("learner")
    assert scores.loc["elastic_net", "mean"] < 0.65  # a linear model cannot see XOR
    assert search.best_learner_ in ("rotation_forest", "sgb")
    assert search.best_score_ == scores["mean"].max() > 0.85
    assert scores["chosen"].sum() == 1 and scores.loc[search.best_learner_, "chosen"]
    assert isinstance(search.best_estimator_, (RotationForestClassifier,
                                               GradientBoostingClassifier))
    proba = search.predict_proba(X)
    assert proba.shape == (len(y), 2) and list(search.classes_) == [0, 1]
    # with a linear signal and these few patients the regularised linear model is preferred
    rng = np.random.default_rng(1)
    Xl = rng.normal(size=(80, 6))
    yl = (Xl[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)
    linear = _search("binary", ["elastic_net", "rotation_forest"]).fit(Xl, yl)
    assert linear.best_learner_ == "elastic_net"


def test_search_picks_the_clearly_better_survival_learner():
    X, y, _ = _cox_data(quadratic=True)
    search = _search("survival", ["coxnet", "gbsa", "fast_svm"]).fit(X, y)
    scores = search.learner_scores_.set_index("learner")
    assert scores.loc["coxnet", "mean"] < 0.6 and scores.loc["fast_svm", "mean"] < 0.6
    assert search.best_learner_ == "gbsa" and scores.loc["gbsa", "mean"] > 0.7
    assert set(scores.metric) == {"cindex"}
    assert harrell_c(y, search.predict(X)) > 0.7


def test_staged_boosting_scores_equal_separate_fits():
    X, y = _xor(n=120, seed=2)
    cfg = {**CFG, "learners_binary": ["sgb"]}
    both = LearnerSearch(candidates("binary", cfg, 0), cv=3).fit(X, y).cv_results_
    assert list(both.params.map(lambda p: json.loads(p)["n_estimators"])) == [20, 60]
    for n in (20, 60):
        one = {**cfg, "grids": {"sgb": {**CFG["grids"]["sgb"], "n_estimators": [n]}}}
        single = LearnerSearch(candidates("binary", one, 0), cv=3).fit(X, y).cv_results_
        row = both[both.params.map(lambda p, n=n: json.loads(p)["n_estimators"] == n)].iloc[0]
        np.testing.assert_allclose(row.scores, single.scores.iloc[0])
        assert row["mean"] == pytest.approx(single["mean"].iloc[0])


def test_results_table_and_failed_learners():
    X, y = _xor(n=90, seed=3)
    bad = LogisticRegression(solver="lbfgs", l1_ratio=1.0)  # lbfgs refuses an L1 penalty
    search = LearnerSearch([("bad", bad, {}), ("good", LogisticRegression(), {"C": [0.1, 1.0]})],
                           cv=3).fit(X, y)
    res = search.cv_results_
    assert list(res.columns) == ["learner", "params", "mean", "sd", "n_folds", "scores",
                                 "chosen"]
    assert res.loc[0, "n_folds"] == 0 and np.isnan(res.loc[0, "mean"])
    assert search.best_learner_ == "good" and res.chosen.sum() == 1
    with pytest.raises(ArithmeticError, match="every candidate learner failed"):
        LearnerSearch([("bad", bad, {})], cv=3).fit(X, y)


def test_frozen_pipeline_reuses_the_choice_but_refits_selection():
    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(90, 30)), columns=[f"f{j}" for j in range(30)])
    y = (X.f0 - X.f1 + rng.normal(0, 0.5, 90) > 0).astype(int)
    cfg = {"models": {**CFG, "learners_binary": ["elastic_net", "rotation_forest"], "seed": 0}}
    pipe = component_pipeline({"radiomics": list(X.columns)}, "binary", cfg).fit(X, y)
    search = pipe.named_steps["model"]
    copy = frozen(pipe)
    model = copy.named_steps["model"]
    assert not isinstance(model, LearnerSearch)
    assert type(model) is type(search.best_estimator_)
    assert model.get_params() == search.best_estimator_.get_params()
    assert not hasattr(copy.named_steps["select"], "columns_")  # unfitted: refitted per fold
    half = copy.fit(X.iloc[:45], y[:45])
    # The selection of the frozen copy is the one any pipeline fits on those 45 patients.
    searched = component_pipeline({"radiomics": list(X.columns)}, "binary", cfg).fit(
        X.iloc[:45], y[:45])
    assert half.named_steps["select"].columns_ == searched.named_steps["select"].columns_
    assert half.named_steps["select"].columns_ != pipe.named_steps["select"].columns_
    assert half.named_steps["model"].get_params() == search.best_estimator_.get_params()


def test_fast_svm_breslow_probabilities_are_monotone_and_calibrated():
    X, y, lp = _cox_data(n=600, seed=5)
    model = FastSurvivalSVMBreslow(alpha=1.0, max_iter=100, random_state=0).fit(X, y)
    times = np.array([100.0, 300.0, 600.0, 1000.0])
    surv = step_values(model.predict_survival_function(X), times)
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (np.diff(surv, axis=1) <= 1e-12).all()
    true = np.exp(-(times[None, :] / 800) * np.exp(lp)[:, None])
    assert np.mean(np.abs(surv - true)) < 0.05
    # calibration in the large: mean predicted survival against the truth at each time
    np.testing.assert_allclose(surv.mean(axis=0), true.mean(axis=0), atol=0.04)
    risk = model.predict(X)
    assert harrell_c(y, risk) > 0.7
    assert np.corrcoef(risk, surv[:, 1])[0, 1] < -0.8  # higher risk, lower survival
    arr = model.predict_survival_function(X[:3], return_array=True)
    assert arr.shape == (3, len(model.unique_times_))


def test_config_defaults_are_the_code_defaults():
    models = load_schema("config")["properties"]["models"]["properties"]
    grids = {k: v["default"] for k, v in models["grids"]["properties"].items()}
    assert grids == DEFAULT_GRIDS
    assert models["learners_binary"]["default"] == list(BINARY_LEARNERS)
    assert models["learners_survival"]["default"] == list(SURVIVAL_LEARNERS)
    selection = {k: v["default"] for k, v in models["selection"]["properties"].items()}
    assert selection == SELECTION_DEFAULTS
    for name, grid in DEFAULT_GRIDS.items():  # every default grid fits its learner
        learner = next(est for n, est, _ in candidates(
            "binary" if name in BINARY_LEARNERS else "survival",
            {"learners_binary": [name], "learners_survival": [name]}, 0) if n == name)
        clone(learner).set_params(**{k: v[0] for k, v in grid.items()})
    with pytest.raises(ValueError, match="unknown binary learner"):
        candidates("binary", {"learners_binary": ["svm"]}, 0)


@pytest.mark.parametrize("name", BINARY_LEARNERS + SURVIVAL_LEARNERS)
def test_every_learner_is_seeded(name):
    """Same seed, same predictions, for every candidate learner (the default config searches all
    ten; an unseeded random state anywhere in one breaks the workflow's determinism)."""
    if name in BINARY_LEARNERS:
        X, y = _xor(120, seed=4)
        predict = "predict_proba"
    else:
        X, y, _ = _cox_data(120, seed=4)
        predict = "predict"
    first, again = (make_learner(name, CFG, seed=3).fit(X, y) for _ in range(2))
    np.testing.assert_array_equal(getattr(first, predict)(X), getattr(again, predict)(X))
