"""Tests of hccfusion.explain (out-of-fold SHAP, feature correlation) and its figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sksurv.column import encode_categorical
from sksurv.datasets import load_whas500
from sksurv.ensemble import (
    ExtraSurvivalTrees,
    GradientBoostingSurvivalAnalysis,
    RandomSurvivalForest,
)
from sksurv.linear_model import CoxnetSurvivalAnalysis
from sksurv.util import Surv
from statsmodels.stats.multitest import multipletests

from hccfusion.explain import (
    SHAP_COLUMNS,
    feature_correlation,
    fold_shap,
    shap_importance,
    shap_matrix,
)
from hccfusion.figures.correlation import (
    correlation_figure,
    correlation_order,
    plot_correlation,
    significance_marks,
)
from hccfusion.figures.shap import (
    shap_comparison_figure,
    shap_importance_figure,
    shap_summary_figure,
)

SEED = 3


def pipeline(model, select_k: int | None = None) -> Pipeline:
    """The workflow's shape: a `features` step with feature names, then the `model`."""
    steps = [("scale", StandardScaler())]
    if select_k is not None:
        steps.append(("select", SelectKBest(f_classif, k=select_k)))
    features = Pipeline(steps).set_output(transform="pandas")
    return Pipeline([("features", features), ("model", model)])


def reference_folds(y, kind: str, seed: int):
    strata = np.asarray(y) if kind == "binary" else y["event"]
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(strata)), strata))


def refit_outputs(template, X, y, kind: str, seed: int) -> pd.Series:
    """Each patient's output from the pipeline refitted, independently, without its fold."""
    out = pd.Series(np.nan, index=X.index)
    for train, test in reference_folds(y, kind, seed):
        model = clone(template).set_params(model__random_state=seed)
        model.fit(X.iloc[train], y.iloc[train] if kind == "binary" else y[train])
        rows = X.iloc[test]
        if kind == "binary":
            out.iloc[test] = model.predict_proba(rows)[:, 1]
        else:
            out.iloc[test] = model.predict(rows)
    return out


def per_patient(values: pd.DataFrame) -> pd.DataFrame:
    return values.groupby("patient", sort=False).agg(
        fold=("fold", "first"),
        shap_sum=("shap", "sum"),
        base=("base_value", "first"),
        prediction=("prediction", "first"),
        explainer=("explainer", "first"),
    )


# --- data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.index = [f"P{i:03d}" for i in range(len(X))]
    return X, pd.Series(y.to_numpy(), index=X.index)


@pytest.fixture(scope="module")
def whas():
    X, y = load_whas500()
    X = encode_categorical(X).astype(float)
    y = Surv.from_arrays(y["fstat"], y["lenfol"], name_event="event", name_time="time")
    return X, y


def simulated(kind: str, n: int = 300, seed: int = 11):
    """10 independent standard-normal features; only x3 (up) and x7 (down) drive the outcome."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.standard_normal((n, 10)), columns=[f"x{j}" for j in range(10)])
    lp = 1.5 * X["x3"] - 1.5 * X["x7"]
    if kind == "binary":
        return X, pd.Series(rng.random(n) < 1 / (1 + np.exp(-lp)), dtype=int)
    time = rng.exponential(1.0 / (0.1 * np.exp(lp)))
    censor = rng.uniform(0, np.quantile(time, 0.9), n)
    return X, Surv.from_arrays(time <= censor, np.minimum(time, censor))


@pytest.fixture(scope="module")
def cancer_shap(cancer):
    """Random forest on 5 selected features; the selection differs between folds."""
    X, y = cancer
    template = pipeline(RandomForestClassifier(25, max_depth=4), select_k=5)
    values = fold_shap(template, X, y, 5, SEED, kind="binary", background_size=40)
    return template, values


# --- out-of-fold bookkeeping ----------------------------------------------------------------------


def test_every_patient_explained_once_out_of_fold(cancer, cancer_shap):
    X, y = cancer
    template, values = cancer_shap
    assert list(values.columns) == SHAP_COLUMNS
    features = pd.unique(values["feature"])
    assert len(values) == len(X) * len(features)
    assert not values.duplicated(["patient", "feature"]).any()
    patients = per_patient(values)
    assert list(patients.index) == list(X.index)  # everyone, in the order of X
    # Each patient is explained by the model of the fold that held it out (stratified on y).
    for k, (_, test) in enumerate(reference_folds(y, "binary", SEED)):
        assert set(patients.index[patients["fold"] == k]) == set(X.index[test])
    # ... and its prediction is that of a pipeline refitted without it.
    refit = refit_outputs(template, X, y, "binary", SEED)
    np.testing.assert_allclose(patients["prediction"], refit.loc[patients.index], atol=1e-12)

    # The folds selected different features: unselected ones have SHAP 0 and no value.
    importance = shap_importance(values)
    assert ((importance["fold_fraction"] > 0) & (importance["fold_fraction"] < 1)).any()
    dropped = values[~values["selected"]]
    assert len(dropped) > 0
    assert (dropped["shap"] == 0).all() and dropped["value"].isna().all()
    assert values.loc[values["selected"], "value"].notna().all()
    counts = values[values["selected"]].groupby("patient").size()
    assert (counts == 5).all()  # SelectKBest(k=5) in every fold

    phi, x = shap_matrix(values)
    assert phi.shape == x.shape == (len(X), len(features))
    assert list(phi.index) == list(X.index)


# --- local accuracy of the tree explainers ------------------------------------------------------


BINARY_TREES = {
    "random_forest": RandomForestClassifier(30, max_depth=5),
    "stochastic_gradient_boosting": GradientBoostingClassifier(n_estimators=30, subsample=0.7),
    "bagging": BaggingClassifier(DecisionTreeClassifier(max_depth=4), 15, max_features=0.7),
    "adaboost": AdaBoostClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=20),
}
SURVIVAL_TREES = {
    "random_survival_forest": RandomSurvivalForest(25, min_samples_leaf=10),
    "extra_survival_trees": ExtraSurvivalTrees(25, min_samples_leaf=10),
    "gradient_boosting_survival": GradientBoostingSurvivalAnalysis(n_estimators=40, subsample=0.8),
}


def assert_local_accuracy_per_fold(values, refit):
    patients = per_patient(values)
    assert (patients["explainer"] == "tree").all()
    # The prediction is the real model output (an independent refit), not shap's reconstruction.
    scale = 1.0 + patients["prediction"].abs().max()
    np.testing.assert_allclose(patients["prediction"], refit.loc[patients.index], atol=1e-9 * scale)
    for _, fold in patients.groupby("fold"):
        assert fold["base"].nunique() == 1  # one expected value per fold model
        error = (fold["base"] + fold["shap_sum"] - fold["prediction"]).abs().max()
        assert error <= 1e-6 * scale


@pytest.mark.parametrize("name", sorted(BINARY_TREES))
def test_tree_shap_local_accuracy_binary(cancer, name):
    X, y = cancer
    template = pipeline(BINARY_TREES[name])
    values = fold_shap(template, X, y, 5, SEED, kind="binary", background_size=50)
    assert_local_accuracy_per_fold(values, refit_outputs(template, X, y, "binary", SEED))
    assert (values["output"] == "probability").all()


@pytest.mark.parametrize("name", sorted(SURVIVAL_TREES))
def test_tree_shap_local_accuracy_survival(whas, name):
    # shap 0.51's TreeExplainer rejects scikit-survival models; fold_shap converts them.
    X, y = whas
    template = pipeline(SURVIVAL_TREES[name])
    values = fold_shap(template, X, y, 5, SEED, kind="survival", background_size=50)
    assert_local_accuracy_per_fold(values, refit_outputs(template, X, y, "survival", SEED))
    assert (values["output"] == "risk").all()
    # Stratified on the event indicator: every fold has close to the overall event rate.
    folds = per_patient(values)["fold"].to_numpy()
    rates = [y["event"][folds == k].mean() for k in range(5)]
    assert max(rates) - min(rates) < 0.02


# --- known truth --------------------------------------------------------------------------------


TRUTH_CASES = {
    "binary-random_forest": ("binary", RandomForestClassifier(60, min_samples_leaf=5), "tree"),
    "binary-logistic": ("binary", LogisticRegression(), "permutation"),
    "survival-gradient_boosting": (
        "survival",
        GradientBoostingSurvivalAnalysis(n_estimators=60, max_depth=2),
        "tree",
    ),
    "survival-coxnet": (
        "survival",
        CoxnetSurvivalAnalysis(l1_ratio=0.5, alphas=[0.02]),
        "linear",
    ),
}


@pytest.mark.parametrize("case", sorted(TRUTH_CASES))
def test_the_two_true_features_rank_first(case):
    kind, model, route = TRUTH_CASES[case]
    X, y = simulated(kind)
    values = fold_shap(pipeline(model), X, y, 5, SEED, kind=kind, background_size=30, max_evals=84)
    assert (values["explainer"] == route).all()
    importance = shap_importance(values)
    assert set(importance.index[:2]) == {"x3", "x7"}
    # The third feature is far behind, and the directions are right (x3 raises the output).
    assert importance["mean_abs_shap"].iloc[2] < 0.5 * importance["mean_abs_shap"].iloc[1]
    assert importance.loc["x3", "direction"] > 0.5
    assert importance.loc["x7", "direction"] < -0.5
    patients = per_patient(values)
    error = (patients["base"] + patients["shap_sum"] - patients["prediction"]).abs().max()
    assert error <= 1e-6 * (1 + patients["prediction"].abs().max())


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", [RandomForestClassifier(20, max_depth=3), LogisticRegression()], ids=["tree", "perm"]
)
def test_deterministic_for_a_seed(model):
    X, y = simulated("binary", n=120)
    # random_state=None in the template: fold_shap seeds it, so the seed alone decides.
    template = pipeline(model)
    state = np.random.get_state()  # noqa: NPY002
    runs = [
        fold_shap(template, X, y, 5, seed, kind="binary", background_size=20, max_evals=42)
        for seed in (SEED, SEED, SEED + 1)
    ]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0]["fold"], runs[2]["fold"])
    assert not np.allclose(runs[0]["shap"], runs[2]["shap"])
    # No side effect on NumPy's global generator (shap's permutation explainer seeds it).
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2] == state[2]


def test_explicit_folds_are_used_as_given():
    X, y = simulated("binary", n=120)
    template = pipeline(RandomForestClassifier(15, max_depth=3, random_state=0))
    by_number = fold_shap(template, X, y, 5, SEED, kind="binary", background_size=20)
    folds = reference_folds(y, "binary", SEED)
    given = fold_shap(template, X, y, folds, SEED, kind="binary", background_size=20)
    pd.testing.assert_frame_equal(by_number, given)
    with pytest.raises(ValueError, match="exactly once"):
        fold_shap(template, X, y, folds[:4], SEED, kind="binary")


# --- the model-agnostic route's budget ------------------------------------------------------------


class CountingLogistic(LogisticRegression):
    """Logistic regression that counts the rows it is asked to predict (class-wide)."""

    rows: list[int] = []

    def predict_proba(self, X):
        CountingLogistic.rows.append(len(X))
        return super().predict_proba(X)


def count_rows(X, y, max_evals: int, background_size: int) -> tuple[int, pd.DataFrame]:
    CountingLogistic.rows = []
    values = fold_shap(
        pipeline(CountingLogistic()),
        X,
        y,
        5,
        SEED,
        kind="binary",
        background_size=background_size,
        max_evals=max_evals,
    )
    return sum(CountingLogistic.rows), values


def test_permutation_route_respects_the_budget():
    X, y = simulated("binary", n=100)
    n, p, bg = len(X), X.shape[1], 20  # 80 training patients per fold, capped at 20
    # Outside the explainer: the predictions (twice) and the linearity probe, per fold.
    overhead = 3 * n + 5 * (p + 1 + bg)
    used = {}
    for max_evals in (45, 105):
        rows, values = count_rows(X, y, max_evals, bg)
        assert (values["explainer"] == "permutation").all()
        # Each explained patient costs at most max_evals masked evaluations on <= bg rows.
        assert rows - overhead <= n * max_evals * bg
        used[max_evals] = rows - overhead
    # The budget is what is spent: 2 vs 5 antithetic permutations of 2p + 1 evaluations.
    assert used[105] > 2 * used[45]
    with pytest.raises(ValueError, match="max_evals"):
        count_rows(X, y, 2 * p, bg)


# --- importance -----------------------------------------------------------------------------------


def test_shap_importance_averages_over_folds():
    values = pd.DataFrame(
        {
            "patient": [1, 1, 2, 2, 3, 3, 4, 4],
            "fold": [0, 0, 0, 0, 1, 1, 1, 1],
            "feature": ["a", "b"] * 4,
            "value": [1.0, 0.0, -1.0, 1.0, 2.0, np.nan, -2.0, np.nan],
            "shap": [0.4, 0.1, -0.2, 0.3, 0.6, 0.0, -0.6, 0.0],
            "selected": [True, True, True, True, True, False, True, False],
        }
    )
    table = shap_importance(values)
    assert list(table.index) == ["a", "b"]
    # a: fold means of |SHAP| 0.3 and 0.6; b: 0.2 and 0 (not selected in fold 1).
    np.testing.assert_allclose(table.loc["a", "mean_abs_shap"], 0.45)
    np.testing.assert_allclose(table.loc["b", "mean_abs_shap"], 0.1)
    np.testing.assert_allclose(table.loc["a", "fold_sd"], np.std([0.3, 0.6], ddof=1))
    np.testing.assert_allclose(table.loc["a", "mean_shap"], np.mean([0.1, 0.0]))
    assert table.loc["a", "fold_fraction"] == 1.0 and table.loc["b", "fold_fraction"] == 0.5
    assert table.loc["a", "direction"] == pytest.approx(1.0)
    assert np.isnan(table.loc["b", "direction"])  # two selected patients only


# --- correlation ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer_correlation(cancer):
    X, _ = cancer
    cols = ["mean radius", "mean perimeter", "mean texture", "mean smoothness", "mean symmetry"]
    X = X[cols].copy()
    X.iloc[::7, 2] = np.nan  # pairwise-complete observations
    noise = np.random.default_rng(0).standard_normal(len(X))
    return X.assign(noise=noise), feature_correlation(X.assign(noise=noise))


def test_correlation_is_bh_adjusted(cancer_correlation):
    X, corr = cancer_correlation
    pd.testing.assert_frame_equal(corr.r, X.corr(method="spearman"), atol=1e-12)
    pair = X[["mean texture", "mean symmetry"]].dropna()
    rho, p = stats.spearmanr(pair.iloc[:, 0], pair.iloc[:, 1])
    assert corr.p.loc["mean texture", "mean symmetry"] == pytest.approx(p, rel=1e-12)
    assert corr.n.loc["mean texture", "mean symmetry"] == len(pair)
    # Benjamini-Hochberg over the distinct pairs, as statsmodels computes it.
    upper = np.triu_indices(X.shape[1], k=1)
    expected = multipletests(corr.p.to_numpy()[upper], method="fdr_bh")[1]
    np.testing.assert_allclose(corr.p_adj.to_numpy()[upper], expected, rtol=1e-12)
    np.testing.assert_allclose(corr.p_adj.to_numpy(), corr.p_adj.to_numpy().T, equal_nan=True)
    assert (corr.p_adj.to_numpy()[upper] >= corr.p.to_numpy()[upper]).all()
    assert np.isnan(np.diag(corr.p_adj)).all() and (np.diag(corr.r) == 1).all()
    # Pearson uses SciPy's test on the same pairs.
    pearson = feature_correlation(X, method="pearson")
    pd.testing.assert_frame_equal(pearson.r, X.corr(method="pearson"), atol=1e-12)


def test_a_strongly_correlated_pair_is_marked(cancer_correlation):
    _, corr = cancer_correlation
    marks = significance_marks(corr.p_adj)
    assert corr.r.loc["mean radius", "mean perimeter"] > 0.95
    assert marks.loc["mean radius", "mean perimeter"] == "***"
    assert marks.loc["mean perimeter", "mean radius"] == "***"
    assert marks.loc["mean radius", "mean radius"] == ""  # diagonal: no test
    levels = significance_marks(pd.DataFrame([[0.0004, 0.004, 0.04, 0.06, np.nan]]))
    assert levels.iloc[0].tolist() == ["***", "**", "*", "", ""]
    fig = plot_correlation(corr)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.endswith("***") for t in texts)
    # The clustering order puts the pair next to each other.
    order = correlation_order(corr.r)
    assert sorted(order) == sorted(corr.r.index)
    assert abs(order.index("mean radius") - order.index("mean perimeter")) == 1


# --- figures --------------------------------------------------------------------------------------


def assert_written(paths, tmp_path):
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
    for path in paths:
        assert path.parent == tmp_path and path.stat().st_size > 2000
        head = path.read_bytes()[:8]
        assert head.startswith(b"%PDF") if path.suffix == ".pdf" else head == b"\x89PNG\r\n\x1a\n"


def test_figures_are_written(tmp_path, cancer_shap, cancer_correlation):
    _, values = cancer_shap
    survival = values.assign(output="risk")
    assert_written(shap_summary_figure(values, tmp_path / "summary", title="PRIME-R"), tmp_path)
    assert_written(shap_importance_figure(values, tmp_path / "bar"), tmp_path)
    assert_written(
        shap_comparison_figure({"PRIME-R": values, "PRIME-S": survival}, tmp_path / "both"),
        tmp_path,
    )
    assert_written(correlation_figure(cancer_correlation[1], tmp_path / "corr"), tmp_path)
    # Byte-identical on a rerun (seeded jitter, fixed PDF date).
    again = shap_summary_figure(values, tmp_path / "again.png", title="PRIME-R")
    assert again[0].read_bytes() == (tmp_path / "summary.png").read_bytes()


# --- a fitted recipe component ----------------------------------------------------------------------


def test_explain_components_refits_the_chosen_learner_in_each_fold():
    from hccfusion.explain import correlation_table, explain_components, selected_features
    from hccfusion.models import component_pipeline
    from hccfusion.models.learners import frozen

    X, y = simulated("binary", n=200)
    X.index = [f"P{i:03d}" for i in range(len(X))]
    y.index = X.index
    cfg = {"models": {"inner_folds": 3, "learners_binary": ["elastic_net", "sgb"],
                      "grids": {"sgb": {"n_estimators": [30], "max_depth": [2]}}}}
    fitted = component_pipeline({"radiomics": list(X.columns)}, "binary", cfg).fit(X, y)
    values = explain_components({"radiomics": fitted}, X, y, kind="binary", folds=5, seed=SEED,
                                background_size=40, max_evals=100)
    assert list(values.columns) == ["component", *SHAP_COLUMNS]
    patients = per_patient(values.drop(columns="component"))
    assert list(patients.index) == list(X.index)  # every patient once, out of fold
    np.testing.assert_allclose(patients.base + patients.shap_sum, patients.prediction, atol=1e-6)
    # Each prediction is the chosen learner refitted (with selection) without the patient's fold.
    reference = pd.Series(np.nan, index=X.index)
    for train, test in reference_folds(y, "binary", SEED):
        fold_model = frozen(fitted).fit(X.iloc[train], y.iloc[train])
        reference.iloc[test] = fold_model.predict_proba(X.iloc[test])[:, 1]
    np.testing.assert_allclose(patients.prediction, reference.loc[patients.index], atol=1e-9)
    top = shap_importance(values).index[:2]
    assert set(top) == {"radiomics__x3", "radiomics__x7"}

    chosen = selected_features(fitted, X)
    assert list(chosen.columns) == list(fitted.named_steps["select"].columns_)
    assert chosen.index.equals(X.index)
    pairs = correlation_table(feature_correlation(chosen))
    m = chosen.shape[1]
    assert len(pairs) == m * (m - 1) // 2
    assert pairs[["r", "p", "p_adj"]].notna().all().all()
