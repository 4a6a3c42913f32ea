"""Recipe models: they learn planted signal, stay at chance under the permutation audit, are
deterministic, never learn from validation patients, and tabulate in the DESIGN.md format."""

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
from hccfusion.models.response import nonnegative_meta
from hccfusion.split import make_split

BLOCKS = ["clinical", "radiomics"]
COMPONENTS = ["clinical", "radiomics", "early_fusion", "fusion"]
RESPONSE = CFG["endpoints"]["response"]
OS = CFG["endpoints"]["os"]


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
    coxnet = os_fit.components["radiomics"][-1]
    assert coxnet.alpha_ in coxnet.alphas_ and np.count_nonzero(coxnet.coef_) > 0
    rows = cohort.rows("external").iloc[:3]
    surv = os_fit.components["early_fusion"].predict_survival_function(rows, return_array=True)
    assert surv.shape[0] == 3 and np.all(np.diff(surv, axis=1) <= 1e-12)


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
    def imp(fitted):
        block = fitted.components["clinical"].named_steps["features"].named_transformers_
        return block["clinical"].named_steps["encode"].named_transformers_["num"]

    np.testing.assert_array_equal(imp(refit).statistics_, imp(binary_fit).statistics_)
    np.testing.assert_allclose(
        imp(refit).statistics_,
        train[list(imp(refit).feature_names_in_)].median().to_numpy(),
    )


def test_fit_is_deterministic(cohort, os_fit):
    again = fit_recipe(cohort, OS, BLOCKS, CFG)
    rows = cohort.rows("internal")
    for name in COMPONENTS:
        np.testing.assert_array_equal(again.train_cv[name], os_fit.train_cv[name])
        np.testing.assert_array_equal(again.predict(rows)[name], os_fit.predict(rows)[name])


def test_permuted_outcomes_give_chance_level(cohort):
    aucs, cs = [], []
    for seed in (11, 12, 13):
        cfg = copy.deepcopy(CFG)
        cfg["audit"] = {"permute_training_outcomes": True, "seed": seed}
        fb = fit_recipe(cohort, RESPONSE, BLOCKS, cfg, oof=False)
        assert fb.permuted
        preds, y = _external(cohort, fb, RESPONSE)
        aucs.append([roc_auc_score(y, preds[c]) for c in COMPONENTS])
        fs = fit_recipe(cohort, OS, BLOCKS, cfg, oof=False)
        preds, y = _external(cohort, fs, OS)
        cs.append([_harrell(y, preds[c]) for c in COMPONENTS])
    for name, auc, c in zip(COMPONENTS, np.mean(aucs, axis=0), np.mean(cs, axis=0), strict=True):
        assert abs(auc - 0.5) < 0.12, (name, auc)
        assert abs(c - 0.5) < 0.12, (name, c)


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
