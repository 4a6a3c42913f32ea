"""Recipe models: they learn planted signal, stay at chance under the permutation audit, never
learn from validation patients, and tabulate in the DESIGN.md format. Determinism: every learner
in test_learners.py, the whole workflow in test_tiny_run.py."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sksurv.metrics import concordance_index_censored
from test_cohort import CFG, modelling_tables

from hccfusion.cohort import assemble, endpoint_target
from hccfusion.evaluate import COLUMNS, cohort_predictions, performance_rows
from hccfusion.models import fit_recipe
from hccfusion.models.bma import BayesianModelAveraging
from hccfusion.models.learners import BINARY_LEARNERS, SURVIVAL_LEARNERS, LearnerSearch
from hccfusion.models.response import nonnegative_meta
from hccfusion.recipes import run_recipe
from hccfusion.split import make_split

BLOCKS = ["clinical", "radiomics"]
COMPONENTS = ["clinical", "radiomics", "early_fusion", "fusion"]
RESPONSE = CFG["endpoints"]["response"]
OS = CFG["endpoints"]["os"]
# The two main fixtures search every learner (with the default grids); the repeated fits of the
# leakage and permutation tests use three cheap learners per endpoint.
LIGHT = copy.deepcopy(CFG)
LIGHT["cv_folds"] = 3
LIGHT["models"].update(
    learners_binary=["elastic_net", "rotation_forest", "sgb"],
    learners_survival=["coxnet", "gbsa", "fast_svm"],
    grids={"rotation_forest": {"n_estimators": [10]}, "sgb": {"n_estimators": [30, 60]},
           "gbsa": {"n_estimators": [30, 60], "max_depth": [1]},
           "fast_svm": {"alpha": [0.1, 1.0]}},
)


def _cohort(clin, rad):
    return assemble(clin, rad, make_split(clin, CFG))


@pytest.fixture(scope="module")
def cohort():
    clin, rad, _ = modelling_tables()
    return _cohort(clin, rad)


@pytest.fixture(scope="module")
def binary_fit(cohort):
    return fit_recipe(cohort, RESPONSE, BLOCKS, CFG)


@pytest.fixture(scope="module")
def os_fit(cohort):
    return fit_recipe(cohort, OS, BLOCKS, CFG)


def _external(cohort, fitted, endpoint):
    rows = cohort.rows("external")
    tgt = endpoint_target(rows, endpoint)
    return fitted.predict(rows.loc[tgt.index]), tgt.y


def _harrell(y, risk):
    return concordance_index_censored(y["event"], y["time"], risk)[0]


def test_binary_components_learn_planted_signal(cohort, binary_fit):
    assert list(binary_fit.components) == COMPONENTS
    preds, y = _external(cohort, binary_fit, RESPONSE)
    for name in ("radiomics", "early_fusion", "fusion"):
        assert roc_auc_score(y, preds[name]) > 0.7, name
    assert all(((p >= 0) & (p <= 1)).all() for p in preds.values())
    y_tr = endpoint_target(cohort.data.loc[binary_fit.train_index], RESPONSE).y
    for name in COMPONENTS:
        assert np.isfinite(binary_fit.train_cv[name]).all()
    assert roc_auc_score(y_tr, binary_fit.train_cv["fusion"]) > 0.65


def test_survival_components_learn_planted_signal(cohort, os_fit):
    preds, y = _external(cohort, os_fit, OS)
    for name in ("radiomics", "early_fusion", "fusion"):
        assert _harrell(y, preds[name]) > 0.62, name
    search = os_fit.components["radiomics"][-1]
    assert isinstance(search, LearnerSearch) and search.best_learner_ in SURVIVAL_LEARNERS
    assert isinstance(os_fit.components["fusion"], BayesianModelAveraging)
    weights = os_fit.fusion_weights
    assert set(weights) == set(BLOCKS) and sum(weights.values()) == pytest.approx(1.0)


def test_selection_keeps_the_planted_features(binary_fit, os_fit):
    rad = binary_fit.selected_features["radiomics"]
    assert 1 <= len(rad) <= 10
    # 4 of 120+ radiomics features carry the response signal; they dominate the selection.
    assert sum("_shape_Signal" in c for c in rad) >= 3, rad
    # Of the 4 survival-signal features only glcm_Signal0 passes the raw-scale variance filter
    # (> 0.1) of survival endpoints; it is the first to enter the lasso Cox screening path.
    surv = os_fit.selected_features["radiomics"]
    assert 1 <= len(surv) <= 10 and "radiomics__venous_original_glcm_Signal0" in surv, surv
    selector = dict(os_fit.components["radiomics"].named_steps["select"].selectors_)["radiomics"]
    assert selector.screened_[0] == "radiomics__venous_original_glcm_Signal0"
    early = binary_fit.selected_features["early_fusion"]
    assert any(c.startswith("clinical__") for c in early)
    assert any(c.startswith("radiomics__") for c in early)


def test_algorithm_scores_compare_every_learner(binary_fit, os_fit):
    for fitted, learners, metric in ((binary_fit, BINARY_LEARNERS, "auc"),
                                     (os_fit, SURVIVAL_LEARNERS, "cindex")):
        table = fitted.algorithm_scores
        assert list(table.columns) == ["block", "learner", "metric", "mean", "sd", "params",
                                       "chosen"]
        assert set(table.block) == {"clinical", "radiomics", "early_fusion"}
        assert set(table.metric) == {metric}
        for block, rows in table.groupby("block"):
            assert list(rows.learner) == list(learners), block
            assert rows.chosen.sum() == 1
            chosen = rows[rows.chosen].iloc[0]
            assert chosen["mean"] == rows["mean"].max()
            assert chosen.learner == fitted.components[block][-1].best_learner_
            assert (rows["sd"] >= 0).all() and rows["mean"].between(0, 1).all()


def test_predict_survival_of_every_component(cohort, os_fit, binary_fit):
    rows = cohort.rows("external").iloc[:7]
    times = np.array([0.5, 182.6, 365.25, 730.5, 1095.75, 1e6])
    surv = os_fit.predict_survival(rows, times)
    assert list(surv) == COMPONENTS
    follow_up = os_fit.y_train["time"].max()
    for name, s in surv.items():
        assert s.shape == (7, len(times)), name
        np.testing.assert_array_equal(s[:, 0], 1.0)  # before the first event
        assert np.isnan(s[:, -1]).all(), name  # past the training follow-up
        inside = s[:, times <= follow_up]
        assert np.isfinite(inside).all() and ((inside >= 0) & (inside <= 1)).all(), name
        assert (np.diff(inside, axis=1) <= 1e-12).all(), name
    # A higher risk score means a lower survival probability at one year (per component).
    for name in COMPONENTS:
        risk = os_fit.predict(cohort.rows("external"))[name]
        s1 = os_fit.predict_survival(cohort.rows("external"), [365.25])[name][:, 0]
        assert np.corrcoef(risk, s1)[0, 1] < -0.5, name
    with pytest.raises(ValueError, match="survival endpoint"):
        binary_fit.predict_survival(rows, times)


def test_train_cv_survival_is_out_of_fold(cohort, os_fit):
    times = os_fit.train_cv_times
    assert len(times) == int(os_fit.y_train["event"].sum()) or len(times) == len(
        np.unique(os_fit.y_train["time"][os_fit.y_train["event"]]))
    train = cohort.data.loc[os_fit.train_index]
    for name in COMPONENTS:
        oof = os_fit.train_cv_survival[name]
        assert oof.shape == (len(os_fit.train_index), len(times))
        ok = np.isfinite(oof)
        assert ok[:, : len(times) // 2].all()
        assert (np.diff(np.where(ok, oof, 0.0), axis=1)[ok[:, 1:]] <= 1e-12).all()
        in_sample = os_fit.predict_survival(train, times)[name]
        assert not np.allclose(np.nan_to_num(oof), np.nan_to_num(in_sample))
    at = os_fit.train_cv_survival_at([0.0, times[3], times[3] + 0.5, 1e6])
    np.testing.assert_array_equal(at["fusion"][:, 0], 1.0)
    np.testing.assert_array_equal(at["fusion"][:, 1], at["fusion"][:, 2])
    np.testing.assert_array_equal(at["fusion"][:, 1], os_fit.train_cv_survival["fusion"][:, 3])
    assert np.isnan(at["fusion"][:, 3]).all()  # past the training follow-up


def test_train_cv_is_out_of_fold(cohort, binary_fit):
    train = cohort.data.loc[binary_fit.train_index]
    y = binary_fit.y_train
    for name in COMPONENTS:
        in_sample = binary_fit.predict(train)[name]
        assert not np.allclose(in_sample, binary_fit.train_cv[name])
    # Out-of-fold scores are less optimistic than in-sample ones for the penalised radiomics model.
    in_auc = roc_auc_score(y, binary_fit.predict(train)["radiomics"])
    assert roc_auc_score(y, binary_fit.train_cv["radiomics"]) < in_auc
    fusion = binary_fit.components["fusion"]
    assert fusion.oof_.shape == (len(y), 2) and set(fusion.weights_) == set(BLOCKS)
    assert all(w >= 0 for w in fusion.weights_.values()) and fusion.weights_["radiomics"] > 0


def test_stacking_weights_are_nonnegative():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=200)
    y = (signal + rng.normal(0, 0.5, 200) > 0).astype(int)
    z = np.column_stack([signal, -signal + rng.normal(0, 0.3, 200), rng.normal(size=200)])

    def fit(cols):
        return LogisticRegression().fit(z[:, cols], y)

    kept, meta = nonnegative_meta(fit, lambda m: m.coef_.ravel(), 3)
    assert kept[0] == 0 and 1 not in kept and (meta.coef_ > 0).all()
    kept, _ = nonnegative_meta(lambda cols: LogisticRegression().fit(-z[:, cols[:1]], y),
                               lambda m: m.coef_.ravel(), 1)
    assert kept == []
    assert nonnegative_meta(fit, lambda m: m.coef_.ravel(), 3, nonnegative=False)[0] == [0, 1, 2]


def test_validation_patients_cannot_change_the_fit(cohort, binary_fit):
    # Scramble and rescale every external patient's features: nothing fitted may change.
    data = cohort.data.copy()
    ext = data.index[data["cohort"] == "external"]
    num = list(cohort.radiomics_columns)
    rng = np.random.default_rng(0)
    data.loc[ext, num] = data.loc[ext, num].to_numpy()[rng.permutation(len(ext))] * 10.0
    data.loc[ext, "albi"] = np.nan
    altered = copy.copy(cohort)
    object.__setattr__(altered, "data", data)
    refit = fit_recipe(altered, RESPONSE, BLOCKS, CFG, oof=False)
    train = cohort.data.loc[binary_fit.train_index]
    for name in COMPONENTS:
        np.testing.assert_array_equal(refit.predict(train)[name], binary_fit.predict(train)[name])
    pd.testing.assert_frame_equal(refit.algorithm_scores, binary_fit.algorithm_scores)
    def imp(fitted):
        block = fitted.components["clinical"].named_steps["features"].named_transformers_
        return block["clinical"].named_steps["encode"].named_transformers_["num"]

    np.testing.assert_array_equal(imp(refit).statistics_, imp(binary_fit).statistics_)
    np.testing.assert_allclose(
        imp(refit).statistics_,
        train[list(imp(refit).feature_names_in_)].median().to_numpy(),
    )


def test_permuted_outcomes_give_chance_level(cohort):
    aucs, cs = [], []
    for seed in (11, 12, 13):
        cfg = copy.deepcopy(LIGHT)
        cfg["audit"] = {"permute_training_outcomes": True, "seed": seed}
        fb = fit_recipe(cohort, RESPONSE, BLOCKS, cfg, oof=False)
        assert fb.permuted
        preds, y = _external(cohort, fb, RESPONSE)
        aucs.append([roc_auc_score(y, preds[c]) for c in COMPONENTS])
        fs = fit_recipe(cohort, OS, BLOCKS, cfg, oof=False)
        preds, y = _external(cohort, fs, OS)
        cs.append([_harrell(y, preds[c]) for c in COMPONENTS])
    for name, auc, c in zip(COMPONENTS, np.mean(aucs, axis=0), np.mean(cs, axis=0), strict=True):
        assert abs(auc - 0.5) < 0.1, (name, auc)
        assert abs(c - 0.5) < 0.1, (name, c)


def test_performance_rows_format(cohort, binary_fit, os_fit):
    preds, targets = cohort_predictions(binary_fit, cohort, RESPONSE)
    perf = performance_rows("PRIME-R", "response", RESPONSE, preds, targets, n_boot=50, seed=7)
    assert list(perf.columns) == COLUMNS
    assert len(perf) == 3 * len(COMPONENTS)
    assert set(perf["metric"]) == {"auc"}
    ext = perf[(perf.cohort == "external") & (perf.component == "fusion")].iloc[0]
    y_ext = targets["external"]
    assert ext.n == len(y_ext) and ext.n_events == int(y_ext.sum())
    assert ext.estimate == pytest.approx(roc_auc_score(y_ext, preds["external"]["fusion"]))
    assert ext.ci_lower < ext.estimate < ext.ci_upper

    preds, targets = cohort_predictions(os_fit, cohort, OS)
    perf = performance_rows("PRIME-S", "os", OS, preds, targets, n_boot=50, seed=7)
    assert list(perf.columns) == COLUMNS
    assert set(perf["metric"]) == {"cindex", "cindex_uno"}
    assert list(pd.unique(perf["cohort"])) == ["train_cv", "internal", "external"]
    row = perf[(perf.cohort == "internal") & (perf.metric == "cindex")
               & (perf.component == "radiomics")].iloc[0]
    y = targets["internal"]
    assert row.n_events == int(y["event"].sum())
    assert row.estimate == pytest.approx(_harrell(y, preds["internal"]["radiomics"]))
    assert perf["estimate"].notna().all()


def test_run_recipe_details():
    clin, rad, _ = modelling_tables()
    split = make_split(clin, CFG)
    cfg = copy.deepcopy(LIGHT)
    cfg.update(clinical_features={"exclude": CFG["clinical"]["exclude"]},
               recipes={"PRIME-S": {"endpoints": ["os"], "blocks": BLOCKS}},
               evaluation={"horizons_months": [6, 12], "time_unit": "days"})
    perf, preds, details = run_recipe("PRIME-S", "os", cfg, clin, rad, split, with_details=True,
                                      performance=False)
    assert perf.empty and list(perf.columns) == COLUMNS
    assert set(preds.component) == set(COMPONENTS) and set(preds.cohort) == {
        "train_cv", "internal", "external"}
    assert set(details.algorithm_scores.block) == {"clinical", "radiomics", "early_fusion"}
    assert (details.algorithm_scores[["recipe", "endpoint"]] == ["PRIME-S", "os"]).all().all()
    sel = details.selected_features
    assert set(sel.component) == {"clinical", "radiomics", "early_fusion"}
    assert not sel.feature.str.contains("__").any()
    assert details.fusion_weights.weight.sum() == pytest.approx(1.0)
    assert set(details.fusion_weights.method) == {"bma"}
    surv = details.survival
    n_event_times = len(details.fitted.train_cv_times)
    per_patient = surv.groupby(["cohort", "component", "patient_id"]).size()
    assert (per_patient == 2 + n_event_times).all()
    assert len(per_patient) == len(preds)  # one survival curve per scored patient and component
    horizons = surv[surv.horizon_months.notna()]
    assert set(horizons.horizon_months) == {6.0, 12.0}
    assert horizons.time.max() == pytest.approx(365.25)
    assert surv.survival.dropna().between(0, 1).all()
    # train_cv survival is the out-of-fold curve, the same as the FittedRecipe's.
    fitted = details.fitted
    pid = fitted.train_index[0]
    mine = surv[(surv.cohort == "train_cv") & (surv.component == "fusion")
                & (surv.patient_id == pid) & surv.horizon_months.isna()]
    np.testing.assert_allclose(mine.survival, fitted.train_cv_survival["fusion"][0])


# The too-few-outcomes cases are rows of the bad-input matrix (tests/test_bad_inputs.py).
