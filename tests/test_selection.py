"""Feature selection of seed 001: correct statistics, the informative features on simulated data,
and no leakage (refitted in every fold; permuted outcomes select chance features)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sksurv.util import Surv

from hccfusion.models import component_pipeline
from hccfusion.models.learners import auc_score
from hccfusion.selection import (
    BlockSelector,
    CoxSelector,
    ElasticNetLogisticSelector,
    UnivariateLogisticSelector,
    block_selector,
    enet_logistic_path,
    univariate_logistic_pvalues,
)

INFORMATIVE = ["f000", "f001", "f002"]


def _binary(n=120, p=60, seed=0, signal=(1.5, -1.2, 1.0)):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j:03d}" for j in range(p)])
    eta = X.iloc[:, : len(signal)].to_numpy() @ np.asarray(signal)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return X, y


def _survival(n=150, p=200, seed=0, signal=(0.9, -0.8, 0.7)):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j:03d}" for j in range(p)])
    lp = X.iloc[:, : len(signal)].to_numpy() @ np.asarray(signal)
    t = rng.exponential(size=n) * np.exp(-lp) * 500
    c = rng.uniform(100, 1500, n)
    return X, Surv.from_arrays(event=t <= c, time=np.minimum(t, c))


def test_univariate_pvalues_match_statsmodels():
    X, y = _binary(n=90, p=6, seed=1)
    X["const"] = 1.0
    slope, p_lr = univariate_logistic_pvalues(X, y, "lr")
    _, p_wald = univariate_logistic_pvalues(X, y, "wald")
    for j, col in enumerate(X.columns[:6]):
        fit = sm.Logit(y, sm.add_constant(X[[col]].to_numpy())).fit(disp=0)
        assert p_lr[j] == pytest.approx(fit.llr_pvalue, rel=1e-6, abs=1e-12)
        assert p_wald[j] == pytest.approx(fit.pvalues[1], rel=1e-5, abs=1e-12)
        assert slope[j] == pytest.approx(fit.params[1], rel=1e-6)
    assert p_lr[-1] == 1.0 and slope[-1] == 0.0


def test_univariate_selector_keeps_significant_features_or_the_best_two():
    X, y = _binary(n=150, p=30, seed=2)
    sel = UnivariateLogisticSelector(0.05).fit(X, y)
    assert set(INFORMATIVE) <= set(sel.columns_) and not sel.fallback_
    assert (sel.pvalues_[sel.columns_] < 0.05).all()
    noise = X.iloc[:, 10:]
    sel = UnivariateLogisticSelector(1e-6, min_features=2).fit(noise, y)
    assert sel.fallback_ and len(sel.columns_) == 2
    assert set(sel.columns_) == set(sel.pvalues_.nsmallest(2).index)
    assert list(sel.transform(noise).columns) == sel.columns_


def test_enet_logistic_path_solves_the_saga_problem():
    X, y = _binary(n=70, p=40, seed=3)
    Z = X.to_numpy()
    Cs = [0.05, 0.2, 1.0]
    coefs, intercepts = enet_logistic_path(Z, y, Cs, 0.5)
    for k, C in enumerate(Cs):
        ref = LogisticRegression(C=C, l1_ratio=0.5, solver="saga", tol=1e-10,
                                 max_iter=100000).fit(Z, y)
        np.testing.assert_allclose(coefs[k], ref.coef_.ravel(), atol=2e-4)
        assert intercepts[k] == pytest.approx(ref.intercept_[0], abs=2e-4)
        assert ((np.abs(coefs[k]) > 1e-4) == (np.abs(ref.coef_.ravel()) > 1e-4)).mean() > 0.95


def test_elastic_net_selector_cd_and_saga_agree():
    X, y = _binary(n=80, p=50, seed=4)
    cd = ElasticNetLogisticSelector(cv=5, n_Cs=6, random_state=0).fit(X, y)
    saga = ElasticNetLogisticSelector(cv=5, n_Cs=6, random_state=0, solver="saga").fit(X, y)
    assert cd.C_ == pytest.approx(saga.C_)
    assert cd.columns_ == saga.columns_


def test_elastic_net_selector_finds_the_informative_features_when_p_exceeds_n():
    X, y = _binary(n=100, p=400, seed=5, signal=(2.0, -1.6, 1.4))
    sel = ElasticNetLogisticSelector(random_state=0).fit(X, y)
    assert set(INFORMATIVE) <= set(sel.columns_) and len(sel.columns_) <= 10
    # every kept coefficient passes the threshold; the cap keeps the largest
    kept = sel.coef_[sel.columns_].abs()
    assert (kept > 1e-4).all() and kept.min() >= sel.coef_.drop(sel.columns_).abs().max()
    assert ElasticNetLogisticSelector(max_features=2).fit(X, y).columns_ != sel.columns_


def test_cox_selector_screens_and_keeps_the_top_informative_features():
    X, y = _survival(seed=6)
    sel = CoxSelector(random_state=0).fit(X, y)
    assert set(sel.screened_[:3]) == set(INFORMATIVE)
    assert len(sel.screened_) <= 30 and 1 <= len(sel.columns_) <= 10
    assert set(INFORMATIVE) <= set(sel.columns_)
    assert set(sel.columns_) <= set(sel.screened_)
    assert CoxSelector(top_k=2).fit(X, y).columns_ != sel.columns_


@pytest.mark.parametrize("kind", ["binary", "survival"])
def test_permuted_outcomes_select_chance_features(kind):
    if kind == "binary":
        X, y = _binary(n=100, p=200, seed=7, signal=(2.0, -1.6, 1.4))
        make = lambda: ElasticNetLogisticSelector(random_state=0)  # noqa: E731
    else:
        X, y = _survival(n=120, p=200, seed=7)
        make = lambda: CoxSelector(random_state=0)  # noqa: E731
    assert set(INFORMATIVE) <= set(make().fit(X, y).columns_)
    rng = np.random.default_rng(0)
    hits, kept = 0, 0
    for _ in range(6):
        cols = make().fit(X, y[rng.permutation(len(y))]).columns_
        hits += len(set(cols) & set(INFORMATIVE))
        kept += len(cols)
    # By chance 3 / 200 of the kept features are informative: about 0.5 hits in 6 fits.
    assert hits <= 3, (hits, kept)


def test_block_selector_selects_each_block_with_its_own_rule():
    X, y = _binary(n=120, p=20, seed=8)
    frame = pd.concat([X.iloc[:, :10].add_prefix("clinical__"),
                       X.iloc[:, 10:].add_prefix("radiomics__")], axis=1)
    frame["radiomics__sig"] = X["f000"] + np.random.default_rng(0).normal(0, 0.3, len(X))
    sel = BlockSelector([("clinical", block_selector("clinical", "binary", {})),
                         ("radiomics", block_selector("radiomics", "binary", {}, folds=3))])
    out = sel.fit(frame, y).transform(frame)
    assert list(out.columns) == sel.columns_
    assert set(sel.selected_) == {"clinical", "radiomics"}
    clin = dict(sel.selectors_)["clinical"]
    assert isinstance(clin, UnivariateLogisticSelector)
    assert all(c.startswith("clinical__") for c in sel.selected_["clinical"])
    assert "clinical__f000" in sel.selected_["clinical"]
    assert "radiomics__sig" in sel.selected_["radiomics"]
    with pytest.raises(ValueError, match="block 'other'"):
        BlockSelector([("other", UnivariateLogisticSelector())]).fit(frame, y)


def _oof_auc(pipeline_factory, X, y, preselect=None):
    oof = np.zeros(len(y))
    folds = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    selectors = []
    for tr, te in folds:
        data = X if preselect is None else X[preselect]
        pipe = pipeline_factory().fit(data.iloc[tr], y[tr])
        oof[te] = pipe.predict_proba(data.iloc[te])[:, 1]
        selectors.append(pipe.named_steps["select"])
    return auc_score(y, oof), selectors


def test_selection_is_refitted_in_every_fold_so_noise_stays_at_chance():
    """Pure noise, p >> n: selecting on all patients before cross-validation finds features
    that "predict" the outcome (a leak); selection inside each fold gives chance AUC."""
    rng = np.random.default_rng(9)
    n, p = 70, 500
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"radiomics_f{j}" for j in range(p)])
    y = rng.permutation(np.repeat([0, 1], n // 2))
    cfg = {"models": {"learners_binary": ["elastic_net"], "Cs": [0.1, 1.0], "inner_folds": 3,
                      "seed": 0},
           "preprocessing": {"variance_threshold_binary": 0.0}}

    def factory():
        return component_pipeline({"radiomics": list(X.columns)}, "binary", cfg)

    honest, selectors = _oof_auc(factory, X, y)
    assert abs(honest - 0.5) < 0.2
    # Each fold's selection was fitted on that fold's training patients only.
    columns = [tuple(s.columns_) for s in selectors]
    assert len(set(columns)) == 5
    leaked_cols = [c.split("__", 1)[1] for c in factory().fit(X, y).named_steps["select"].columns_]
    leaky, _ = _oof_auc(lambda: component_pipeline({"radiomics": leaked_cols}, "binary", cfg), X,
                        y, preselect=leaked_cols)
    assert leaky > 0.8 and leaky > honest + 0.25
