"""Model explanation: out-of-fold SHAP values and the correlation of the selected features.

SHAP (SHapley Additive exPlanations; Lundberg SM, Lee S-I. A unified approach to interpreting
model predictions. NeurIPS 2017:4765-74) writes one prediction as a sum of feature contributions,
``f(x) = phi_0 + sum_j phi_j(x)``, where ``phi_j`` is the Shapley value of feature ``j`` in the
game "predict with only these features known", the unknown features being drawn from a background
sample, and ``phi_0 = E_background[f]`` (the "interventional" or independent-features definition).

Seed 001 computes SHAP values "using a five-fold cross-validation averaging strategy".
:func:`fold_shap` implements it: in each of K stratified folds the whole pipeline (imputation,
filters, z-score, selection, learner) is refitted on the training folds and explains the held-out
fold, so every patient is explained once, by a model that did not see them, and the summary
averages over the K models rather than describing one fit. The explained output is the predicted
probability of the positive class (``kind="binary"``) or the risk score returned by ``predict``
of a scikit-survival estimator (``kind="survival"``; higher = worse).

Explainer, chosen per fitted model, exact wherever an exact algorithm applies:

* tree ensembles: interventional TreeSHAP (Lundberg SM, Erion G, Chen H, et al. From local
  explanations to global understanding with explainable AI for trees. Nat Mach Intell
  2020;2:56-67), exact and polynomial-time, against the background sample. shap 0.51's
  TreeExplainer rejects scikit-survival's RandomSurvivalForest, ExtraSurvivalTrees, SurvivalTree
  and GradientBoostingSurvivalAnalysis and scikit-learn's BaggingClassifier and
  AdaBoostClassifier ("Model type not yet supported"), and for the scikit-learn forests and
  gradient boosting it does read, its SHAP values can miss the model output (see
  :func:`_float32_thresholds`). All of them are therefore converted here into shap's generic
  tree-ensemble format, which works because their outputs are sums of tree leaf values: the
  survival-forest risk is the mean over trees of the leaf cumulative hazard summed over the event
  times, the Cox gradient-boosting log-hazard is a learning-rate-weighted sum of regression trees,
  a random-forest or bagged probability is the mean of the trees' leaf class fractions, the
  gradient-boosting probability is the logistic function of a sum of trees, and the (SAMME)
  AdaBoost probability is the logistic function of a weighted vote of the trees.
* models whose explained output is affine in the features (Coxnet and Cox regression, a linear
  survival SVM): ``shap.LinearExplainer``, exact (``phi_j = b_j (x_j - mean_background_j)``).
  Linearity is checked numerically on the fitted model (on the background and held-out rows)
  rather than read from its class, so any wrapper of a linear model qualifies. A logistic regression
  is linear in the log-odds but not in the probability, so on the probability scale it takes the
  next route.
* everything else (stacking, Rotation Forest, kernel SVMs, logistic regression on the probability
  scale): ``shap.PermutationExplainer``, antithetic random permutations of the features, each of
  which satisfies local accuracy exactly, with at most ``max_evals`` masked evaluations per patient
  on at most ``background_size`` background rows.

Every explanation is checked for local accuracy (``phi_0 + sum_j phi_j = f(x)``) against the
fitted model's own output; a tree conversion that does not reproduce the model (say, after a
change of scikit-survival's internals) falls back to the permutation route instead of returning
wrong values.

Features selected in only some folds: a feature that the fold's selection dropped is not an input
of that fold's model, so its Shapley value there is exactly 0 (the dummy axiom), and it is
reported as 0 with ``selected=False`` and a missing feature value. Mean |SHAP| therefore rewards
features that are both selected consistently and influential, which is what "averaged over the
folds" should mean; ``fold_fraction`` in :func:`shap_importance` says how often each was selected.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

__all__ = [
    "SHAP_COLUMNS",
    "FeatureCorrelation",
    "correlation_table",
    "explain_components",
    "feature_correlation",
    "fold_shap",
    "selected_features",
    "shap_importance",
    "shap_matrix",
]

#: Columns of the long table returned by :func:`fold_shap`, one row per patient x feature.
SHAP_COLUMNS = [
    "patient",  # index label of X
    "fold",  # 0..K-1, the fold in which the patient was held out
    "feature",  # model-input feature (get_feature_names_out of the preprocessing steps)
    "value",  # the patient's value of that feature as the model saw it; NaN if not selected
    "shap",  # SHAP value; 0 where the fold did not select the feature
    "selected",  # whether the fold's pipeline selected the feature
    "base_value",  # phi_0: mean model output over the fold's background sample
    "prediction",  # the fold model's output for the patient (= base_value + sum of shap)
    "explainer",  # "tree", "linear" or "permutation"
    "output",  # "probability" (binary) or "risk" (survival)
]

_KINDS = ("binary", "survival")


def _shap():
    try:
        import shap
    except ImportError as err:  # shap is an optional dependency: hccfusion[explain]
        raise ImportError("model explanation needs shap: pip install 'hccfusion[explain]'") from err
    return shap


# --- folds and fitting ---------------------------------------------------------------------------


def _event_indicator(y) -> np.ndarray:
    """Event indicator of a scikit-survival structured array (its boolean field, else the first)."""
    names = getattr(getattr(y, "dtype", None), "names", None)
    if not names:
        raise TypeError("kind='survival' needs y as a structured array (sksurv.util.Surv)")
    field = next((n for n in names if y.dtype[n] == np.bool_), names[0])
    return np.asarray(y[field]).astype(int)


def _fold_splits(y, kind: str, folds, seed: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled stratified K-fold (on y, or on the event indicator for survival) or given splits."""
    if not isinstance(folds, int | np.integer):
        splits = [(np.asarray(tr, dtype=int), np.asarray(te, dtype=int)) for tr, te in folds]
        held_out = np.sort(np.concatenate([te for _, te in splits]))
        if not np.array_equal(held_out, np.arange(n)):
            raise ValueError("the given folds must hold out every patient exactly once")
        return splits
    k = int(folds)
    if k < 2:
        raise ValueError(f"folds must be at least 2, got {k}")
    strata = np.asarray(y).ravel() if kind == "binary" else _event_indicator(y)
    counts = np.unique(strata, return_counts=True)[1]
    if kind == "survival" and (len(counts) < 2 or counts.min() < k):
        # Too few censored (or event) patients to stratify: plain shuffled K-fold, as the
        # survival models' own cross-validation does.
        cv = KFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in cv.split(np.zeros(n), strata)]


def _take(y, idx: np.ndarray):
    if isinstance(y, pd.Series | pd.DataFrame):
        return y.iloc[idx]
    return np.asarray(y)[idx]


def _seeded_clone(template, seed: int):
    """Unfitted copy of ``template``; every ``random_state`` left at None is set to ``seed``.

    A None random state draws from the global generator, which would make the explanation differ
    between runs; states the template fixed itself are kept.
    """
    est = clone(template)
    params = est.get_params(deep=True)
    unset = {
        key: int(seed)
        for key, value in params.items()
        if value is None and (key == "random_state" or key.endswith("__random_state"))
    }
    return est.set_params(**unset) if unset else est


def _split_pipeline(fitted) -> tuple[Callable | None, object]:
    """(transform into the model's input space, final estimator) of a fitted pipeline."""
    if isinstance(fitted, Pipeline):
        if len(fitted.steps) == 1:
            return None, fitted.steps[-1][1]
        return fitted[:-1].transform, fitted.steps[-1][1]
    return None, fitted


def _feature_names(fitted, X: pd.DataFrame) -> list[str]:
    if isinstance(fitted, Pipeline) and len(fitted.steps) > 1:
        return [str(c) for c in fitted[:-1].get_feature_names_out()]
    return [str(c) for c in X.columns]


def _model_input(model, Z: np.ndarray):
    """Rows in the model's input space as the model was fitted: a DataFrame if it saw names.

    (An estimator fitted on a DataFrame warns on arrays, and one that selects columns by name,
    such as a stacking of column-specific pipelines, needs them.)
    """
    Z = np.asarray(Z, dtype=float)
    names = getattr(model, "feature_names_in_", None)
    return Z if names is None else pd.DataFrame(Z, columns=list(names), copy=False)


def _output_function(model, kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """f(Z) of the explained output: P(positive class) or the survival risk score."""
    if kind == "binary":
        if not hasattr(model, "predict_proba"):
            raise TypeError(f"{type(model).__name__} has no predict_proba (kind='binary')")
        classes = list(model.classes_)
        if len(classes) != 2:
            raise ValueError(f"kind='binary' needs two classes, the model has {classes}")
        pos = 1  # classes_ are sorted: the positive class (1 / True) is the second

        def f(Z):
            return np.asarray(model.predict_proba(_model_input(model, Z)), dtype=float)[:, pos]

    else:

        def f(Z):
            return np.asarray(model.predict(_model_input(model, Z)), dtype=float).ravel()

    return f


# --- tree ensembles ------------------------------------------------------------------------------


def _float32_thresholds(threshold: np.ndarray) -> np.ndarray:
    """Thresholds that split float32 inputs exactly as scikit-learn does.

    scikit-learn casts inputs to float32 and compares them with float64 thresholds (midpoints
    between float32 values); shap's tree code rounds the thresholds to float32, which can move a
    patient whose value is the upper float32 neighbour of the midpoint to the other branch. shap's
    SHAP values then no longer add up to the model output (errors of about 1 % of the output for a
    random (survival) forest on z-scored data, shap 0.51). The largest float32 not above the
    threshold gives the same split for every float32 input and survives the rounding; the inputs
    are rounded to float32 as well.
    """
    t64 = np.asarray(threshold, dtype=np.float64)
    t32 = t64.astype(np.float32)
    t32 = np.where(t32.astype(np.float64) > t64, np.nextafter(t32, np.float32(-np.inf)), t32)
    return t32.astype(np.float64)


def _tree_dict(tree, values, feature_map=None) -> dict:
    """One fitted scikit-learn ``Tree`` in shap's generic tree format, with per-node ``values``."""
    left = tree.children_left.astype(np.int32)
    right = tree.children_right.astype(np.int32)
    leaf = left < 0
    features = tree.feature.astype(np.int64)
    if feature_map is not None:  # a bagged tree sees a subset of the columns
        features = np.where(leaf, -2, np.asarray(feature_map)[np.where(leaf, 0, features)])
    go_left = getattr(tree, "missing_go_to_left", None)
    default = left if go_left is None else np.where(np.asarray(go_left, bool), left, right)
    return {
        "children_left": left,
        "children_right": right,
        "children_default": np.where(leaf, -1, default).astype(np.int32),
        "features": np.where(leaf, -2, features).astype(np.int32),
        "thresholds": _float32_thresholds(tree.threshold),
        "values": np.asarray(values, dtype=np.float64).reshape(-1, 1),
        "node_sample_weight": tree.weighted_n_node_samples.astype(np.float64),
    }


def _ensemble(trees: list[dict], tree_output: str, base_offset: float = 0.0) -> dict:
    return {
        "trees": trees,
        "base_offset": float(base_offset),
        "tree_output": tree_output,
        "objective": "squared_error",
        # scikit-learn trees compare float32 inputs with their thresholds; so does shap then.
        "input_dtype": np.float32,
        "internal_dtype": np.float64,
    }


def _survival_tree_values(est) -> np.ndarray:
    """Per-node risk of a scikit-survival SurvivalTree: its CHF summed over the event times."""
    value = est.tree_.value
    if getattr(est, "low_memory", False):
        return value[:, 0, 0]  # low-memory trees store that sum directly
    return value[:, :, 0][:, np.asarray(est.is_event_time_, bool)].sum(axis=1)


def _positive_fraction(est, positive) -> np.ndarray:
    """Per-node fraction of the positive class in a fitted classification tree (0 if absent)."""
    value = est.tree_.value[:, 0, :]
    fraction = value / value.sum(axis=1, keepdims=True)
    classes = np.asarray(est.classes_).tolist()
    # A bootstrap sample of a bagged tree may have missed a class: its leaves predict 0 for it.
    return fraction[:, classes.index(positive)] if positive in classes else np.zeros(len(value))


def _is(model, *qualnames: str) -> bool:
    """isinstance by class name along the MRO (no import of optional libraries needed)."""
    names = {f"{c.__module__.split('.')[0]}.{c.__name__}" for c in type(model).__mro__}
    return any(q in names for q in qualnames)


def _tree_model(model, kind: str, f, background: np.ndarray):
    """(model for shap.TreeExplainer, model_output) for a supported tree model, else None."""
    est = getattr(model, "estimators_", None)
    if kind == "survival":
        if _is(model, "sksurv.RandomSurvivalForest", "sksurv.ExtraSurvivalTrees"):
            scale = 1.0 / len(est)  # the forest risk is the mean of the tree risks
            trees = [_tree_dict(e.tree_, _survival_tree_values(e) * scale) for e in est]
            return _ensemble(trees, "raw_value"), "raw"
        if _is(model, "sksurv.SurvivalTree"):
            return _ensemble(
                [_tree_dict(model.tree_, _survival_tree_values(model))], "raw_value"
            ), "raw"
        if _is(model, "sksurv.GradientBoostingSurvivalAnalysis") and model.loss == "coxph":
            # Other losses predict a time (higher = better) through a link: not explained as trees.
            stages = np.asarray(est)[:, 0]
            scale = np.asarray(getattr(model, "_scale", np.ones(len(stages))), float)  # dropout
            weights = model.learning_rate * scale[: len(stages)]
            pairs = list(zip(stages, weights, strict=True))
            trees = [_tree_dict(t.tree_, t.tree_.value[:, 0, 0] * w) for t, w in pairs]
            # The initial log-hazard (0 for the Cox loss) is read off the model's own output.
            z = background.astype(np.float32)
            tree_sum = sum(w * t.predict(z) for t, w in pairs)
            return _ensemble(trees, "raw_value", float(np.median(f(background) - tree_sum))), "raw"
        return None
    # shap reads scikit-learn's forests and gradient boosting itself, but with the threshold
    # rounding described in _float32_thresholds; they are converted here as well.
    if _is(model, "sklearn.DecisionTreeClassifier"):
        return _ensemble(
            [_tree_dict(model.tree_, _positive_fraction(model, 1))], "raw_value"
        ), "raw"
    if _is(model, "sklearn.GradientBoostingClassifier"):
        if np.asarray(est).shape[1] != 1:
            return None
        stages = np.asarray(est)[:, 0]
        trees = [_tree_dict(t.tree_, t.tree_.value[:, 0, 0] * model.learning_rate) for t in stages]
        # The initial log-odds (the training prior) is read off the model's own decision function.
        z = background.astype(np.float32)
        tree_sum = model.learning_rate * sum(t.predict(z) for t in stages)
        offset = float(
            np.median(model.decision_function(_model_input(model, background)) - tree_sum)
        )
        return _ensemble(trees, "log_odds", offset), "probability"
    if est is None or not all(hasattr(e, "tree_") for e in est):
        return None
    if _is(model, "sklearn.RandomForestClassifier", "sklearn.ExtraTreesClassifier"):
        # Mean of the trees' leaf class fractions; the trees see the classes encoded as 0, 1.
        trees = [_tree_dict(e.tree_, _positive_fraction(e, 1) / len(est)) for e in est]
        return _ensemble(trees, "raw_value"), "raw"
    if _is(model, "sklearn.BaggingClassifier"):
        # Mean of the trees' probabilities; each tree sees its own subset of the columns.
        trees = [
            _tree_dict(e.tree_, _positive_fraction(e, 1) / len(est), feature_map=cols)
            for e, cols in zip(est, model.estimators_features_, strict=True)
        ]
        return _ensemble(trees, "raw_value"), "raw"
    if _is(model, "sklearn.AdaBoostClassifier"):
        # SAMME, two classes: log-odds = sum_m 2 w_m h_m(x) / sum_m w_m with votes h_m = +-1.
        weights = np.asarray(model.estimator_weights_, float)
        total = weights.sum()
        trees = []
        # zip stops at the fitted trees, as AdaBoost's own decision_function does.
        for e, w in zip(est, weights, strict=False):
            vote = np.asarray(e.classes_)[e.tree_.value[:, 0, :].argmax(axis=1)]
            sign = np.where(vote == model.classes_[1], 1.0, -1.0)
            trees.append(_tree_dict(e.tree_, 2.0 * w * sign / total))
        return _ensemble(trees, "log_odds"), "probability"
    return None


# --- explainers --------------------------------------------------------------------------------


def _additive(phi, base, pred) -> bool:
    """Local accuracy: base value + sum of SHAP values reproduces the model output."""
    recon = np.asarray(base, float) + np.asarray(phi, float).sum(axis=1)
    return bool(np.allclose(recon, pred, rtol=1e-6, atol=1e-6 * (1.0 + np.abs(pred).max())))


def _explain_tree(model, kind, f, background, Z):
    spec = _tree_model(model, kind, f, background)
    if spec is None:
        return None
    tree_model, model_output = spec
    shap = _shap()
    # The trees split float32 inputs (as scikit-learn predicts); explain exactly those inputs.
    as32 = lambda a: np.asarray(a, dtype=np.float32).astype(np.float64)  # noqa: E731
    explainer = shap.TreeExplainer(
        tree_model,
        data=as32(background),
        feature_perturbation="interventional",
        model_output=model_output,
    )
    phi = np.asarray(explainer.shap_values(as32(Z), check_additivity=False), dtype=float)
    base = float(np.ravel(explainer.expected_value)[-1])  # all converted models: one output
    return phi, np.full(len(Z), base)


def _affine(f, background: np.ndarray, Z: np.ndarray):
    """(coef, intercept) if f is affine in the features on these rows, else None."""
    p = background.shape[1]
    centre = background.mean(axis=0)
    probes = np.vstack([centre, centre + np.eye(p)])  # finite differences are exact for an affine f
    out = f(probes)
    coef = out[1:] - out[0]
    intercept = out[0] - centre @ coef
    rows = np.vstack([background, Z])
    observed = f(rows)
    tol = 1e-8 * (1.0 + np.abs(observed).max())
    if np.abs(rows @ coef + intercept - observed).max() > tol:
        return None
    return coef, intercept


def _explain_linear(f, background, Z):
    fit = _affine(f, background, Z)
    if fit is None:
        return None
    shap = _shap()
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.LinearExplainer(fit, masker)
    phi = np.asarray(explainer.shap_values(Z), dtype=float)
    return phi, np.full(len(Z), float(np.ravel(explainer.expected_value)[0]))


def _explain_permutation(f, background, Z, max_evals: int, seed: int):
    shap = _shap()
    p = Z.shape[1]
    if max_evals < 2 * p + 1:
        raise ValueError(
            f"max_evals={max_evals} is below the permutation explainer's minimum of "
            f"2 x {p} features + 1 = {2 * p + 1} evaluations per patient"
        )
    # max_samples = the whole background, or the masker would subsample it with its own RNG.
    masker = shap.maskers.Independent(background, max_samples=len(background))
    # PermutationExplainer seeds and draws from NumPy's global generator; restore it afterwards.
    state = np.random.get_state()  # noqa: NPY002
    try:
        explainer = shap.PermutationExplainer(f, masker, seed=int(seed))
        # One patient per call: in shap 0.51, Explainer.__call__ reuses the name of its
        # `main_effects` argument for the list it collects, so from the second row of a call on
        # it also computes main effects (about p more masked evaluations per patient, beyond
        # max_evals, and discarded). A fresh call per row keeps the budget.
        rows = [explainer(z[None, :], max_evals=int(max_evals), silent=True) for z in Z]
    finally:
        np.random.set_state(state)  # noqa: NPY002
    phi = np.vstack([np.asarray(r.values, dtype=float).reshape(1, -1) for r in rows])
    base = np.array([float(np.ravel(r.base_values)[0]) for r in rows])
    return phi, base


def _explain(
    model, kind, f, background, Z, *, max_evals, seed
) -> tuple[np.ndarray, np.ndarray, str]:
    pred = f(Z)
    tree = _explain_tree(model, kind, f, background, Z)
    if tree is not None:
        if _additive(*tree, pred):
            return *tree, "tree"
        warnings.warn(
            f"TreeSHAP of {type(model).__name__} does not reproduce the model output; "
            "using the permutation explainer",
            RuntimeWarning,
            stacklevel=3,
        )
    else:
        linear = _explain_linear(f, background, Z)
        if linear is not None:
            return *linear, "linear"
    phi, base = _explain_permutation(f, background, Z, max_evals, seed)
    if not _additive(phi, base, pred):
        raise RuntimeError(f"SHAP values of {type(model).__name__} do not add up to its output")
    return phi, base, "permutation"


# --- public API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fold:
    fold: int
    patients: np.ndarray
    features: list[str]
    values: np.ndarray
    shap: np.ndarray
    base: np.ndarray
    prediction: np.ndarray
    explainer: str


def fold_shap(
    pipeline_template,
    X: pd.DataFrame,
    y,
    folds: int | Sequence[tuple[np.ndarray, np.ndarray]] = 5,
    seed: int = 0,
    *,
    kind: str,
    background_size: int = 100,
    max_evals: int = 500,
) -> pd.DataFrame:
    """Out-of-fold SHAP values: K refits of the whole pipeline, each explaining its held-out fold.

    The "five-fold cross-validation averaging strategy" of seed 001 (see the module docstring for
    the explainers: interventional TreeSHAP, Lundberg et al. 2020; LinearExplainer; permutation
    SHAP, Lundberg & Lee 2017).

    Parameters
    ----------
    pipeline_template
        Unfitted estimator, normally a ``Pipeline`` whose last step is the learner and whose
        earlier steps (imputation, filters, z-score, selection) support ``get_feature_names_out``.
        Cloned and fitted once per fold on the training folds only.
    X, y
        Training patients. ``y``: 0/1 labels (``kind="binary"``) or a scikit-survival structured
        array (``kind="survival"``).
    folds
        Number of folds K (shuffled ``StratifiedKFold`` on ``y``, or on the event indicator for
        survival; plain shuffled ``KFold`` when a survival stratum is smaller than K), or explicit
        ``(train, test)`` index pairs whose test parts partition the patients.
    seed
        Seeds the folds, the background samples, the permutation explainer and every
        ``random_state`` of the template left at None: the same seed gives the same table.
    kind
        ``"binary"`` (explains the probability of the positive class) or ``"survival"`` (explains
        the risk score of ``predict``).
    background_size
        At most this many training rows (a seeded sample) of the fold, in the model's input space,
        stand for "feature unknown"; the base value is the mean output over them.
    max_evals
        Budget of the permutation explainer: masked evaluations per patient (each on the
        background rows). Must be at least 2 x n_features + 1. Unused by the exact explainers.

    Returns
    -------
    pandas.DataFrame
        Long table, one row per patient x feature of the union of the features the folds selected,
        columns :data:`SHAP_COLUMNS`. Each patient belongs to exactly one fold (where it was held
        out). Features the patient's fold did not select have ``shap == 0``, ``selected == False``
        and ``value`` NaN. Per patient, ``base_value + sum(shap) == prediction``. Use
        :func:`shap_matrix` for the wide patients x features matrices.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if int(background_size) < 1:
        raise ValueError(f"background_size must be positive, got {background_size}")
    X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}")
    seed = int(seed)
    results: list[_Fold] = []
    for k, (train, test) in enumerate(_fold_splits(y, kind, folds, seed, n)):
        fitted = _seeded_clone(pipeline_template, seed).fit(X.iloc[train], _take(y, train))
        transform, model = _split_pipeline(fitted)
        names = _feature_names(fitted, X)

        def to_model_space(rows, transform=transform):
            Z = rows if transform is None else transform(rows)
            return np.asarray(Z, dtype=float)

        Z_train, Z_test = to_model_space(X.iloc[train]), to_model_space(X.iloc[test])
        rng = np.random.default_rng([seed, k])
        n_bg = min(int(background_size), len(train))
        background = Z_train[np.sort(rng.choice(len(train), size=n_bg, replace=False))]
        f = _output_function(model, kind)
        phi, base, how = _explain(
            model, kind, f, background, Z_test, max_evals=int(max_evals), seed=seed + k
        )
        results.append(_Fold(k, np.asarray(test), names, Z_test, phi, base, f(Z_test), how))
    return _long_table(results, X.index, "probability" if kind == "binary" else "risk")


def _long_table(results: list[_Fold], index: pd.Index, output: str) -> pd.DataFrame:
    union: list[str] = []
    for r in results:
        union += [name for name in r.features if name not in union]
    position = {name: j for j, name in enumerate(union)}
    n, p = len(index), len(union)
    shap_values = np.zeros((n, p))
    values = np.full((n, p), np.nan)
    selected = np.zeros((n, p), dtype=bool)
    fold = np.empty(n, dtype=int)
    base, prediction = np.empty(n), np.empty(n)
    explainer = np.empty(n, dtype=object)
    for r in results:
        cols = [position[name] for name in r.features]
        rows = r.patients[:, None]
        shap_values[rows, cols] = r.shap
        values[rows, cols] = r.values
        selected[rows, cols] = True
        fold[r.patients], base[r.patients], prediction[r.patients] = r.fold, r.base, r.prediction
        explainer[r.patients] = r.explainer
    return pd.DataFrame(
        {
            "patient": np.repeat(np.asarray(index), p),
            "fold": np.repeat(fold, p),
            "feature": np.tile(np.asarray(union, dtype=object), n),
            "value": values.ravel(),
            "shap": shap_values.ravel(),
            "selected": selected.ravel(),
            "base_value": np.repeat(base, p),
            "prediction": np.repeat(prediction, p),
            "explainer": np.repeat(explainer, p),
            "output": output,
        },
        columns=SHAP_COLUMNS,
    )


def shap_matrix(values: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wide (patients x features) SHAP values and feature values from :func:`fold_shap`'s table.

    Rows and columns keep the order of the long table (patients as in X, features in order of
    first selection).
    """
    patients = pd.unique(values["patient"])
    features = pd.unique(values["feature"])
    wide = {
        col: values.pivot(index="patient", columns="feature", values=col).loc[patients, features]
        for col in ("shap", "value")
    }
    for frame in wide.values():
        frame.columns.name = None
    return wide["shap"], wide["value"]


def shap_importance(values: pd.DataFrame) -> pd.DataFrame:
    """Mean |SHAP| per feature, averaged over the folds, with how often the folds selected it.

    Columns, one row per feature (index ``feature``), sorted by ``mean_abs_shap`` descending:

    * ``mean_abs_shap``: mean over the K folds of the fold's mean |SHAP| over its held-out
      patients (0 in folds that did not select the feature), in the units of the explained output
      (probability or risk score);
    * ``fold_sd``: standard deviation of those K fold means (stability of the importance);
    * ``mean_shap``: the same average of the signed SHAP values;
    * ``fold_fraction``: fraction of the folds whose selection kept the feature;
    * ``direction``: Spearman correlation between the feature value and its SHAP value over the
      patients whose fold selected it (> 0: higher values push the output up), NaN if undefined.
    """
    by_fold = values.assign(abs_shap=values["shap"].abs()).groupby(["feature", "fold"], sort=False)
    per_fold = by_fold.agg(
        abs_shap=("abs_shap", "mean"), shap=("shap", "mean"), selected=("selected", "any")
    )
    grouped = per_fold.groupby(level="feature", sort=False)
    out = pd.DataFrame(
        {
            "mean_abs_shap": grouped["abs_shap"].mean(),
            "fold_sd": grouped["abs_shap"].std(ddof=1),
            "mean_shap": grouped["shap"].mean(),
            "fold_fraction": grouped["selected"].mean(),
        }
    )
    direction = {}
    for feature, rows in values[values["selected"]].groupby("feature", sort=False):
        x, s = rows["value"].to_numpy(float), rows["shap"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(s)
        if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(s[ok]) == 0:
            direction[feature] = np.nan
        else:
            direction[feature] = float(stats.spearmanr(x[ok], s[ok])[0])
    out["direction"] = pd.Series(direction, dtype=float)
    out.index.name = "feature"
    return out.sort_values("mean_abs_shap", ascending=False, kind="stable")


# --- feature correlation ------------------------------------------------------------------------


class FeatureCorrelation(NamedTuple):
    """Pairwise feature correlation: coefficients, p-values, BH-adjusted p-values, pair sizes."""

    r: pd.DataFrame
    p: pd.DataFrame
    p_adj: pd.DataFrame
    n: pd.DataFrame
    method: str


_CORRELATIONS = {
    "spearman": stats.spearmanr,
    "pearson": stats.pearsonr,
    "kendall": stats.kendalltau,
}


def feature_correlation(X: pd.DataFrame, method: str = "spearman") -> FeatureCorrelation:
    """Correlation matrix of the (selected) features with Benjamini-Hochberg adjusted p-values.

    Seed 001 assesses feature redundancy with Spearman correlation (|r| < 0.50 weak) and marks
    significance in its correlation matrices. Each pair uses the patients with both values
    (pairwise-complete); ``method`` is ``"spearman"`` (default), ``"pearson"`` or ``"kendall"``,
    with SciPy's two-sided test. The p-values of the m(m-1)/2 distinct pairs are adjusted together
    for the false discovery rate (Benjamini Y, Hochberg Y. Controlling the false discovery rate: a
    practical and powerful approach to multiple testing. J R Stat Soc B 1995;57:289-300), since a
    matrix of many pairs would otherwise show "significant" marks by chance.

    Returns a :class:`FeatureCorrelation` of symmetric DataFrames ``r``, ``p``, ``p_adj`` and
    ``n``. Pairs with fewer than 3 complete observations or a constant feature have NaN
    coefficient and p-values (and do not count in the adjustment); the diagonal has r = 1 and NaN
    p-values.
    """
    if method not in _CORRELATIONS:
        raise ValueError(f"method must be one of {sorted(_CORRELATIONS)}, got {method!r}")
    X = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
    non_numeric = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if non_numeric:
        raise TypeError(f"feature_correlation needs numeric features; not numeric: {non_numeric}")
    data = X.to_numpy(dtype=float)
    cols = list(X.columns)
    m = len(cols)
    r, p = np.full((m, m), np.nan), np.full((m, m), np.nan)
    finite = np.isfinite(data)
    n = finite.T.astype(int) @ finite.astype(int)
    test = _CORRELATIONS[method]
    for i in range(m):
        column = data[finite[:, i], i]
        if column.size and np.ptp(column) > 0:
            r[i, i] = 1.0
        for j in range(i + 1, m):
            ok = finite[:, i] & finite[:, j]
            a, b = data[ok, i], data[ok, j]
            if ok.sum() < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
                continue
            res = test(a, b)
            r[i, j] = r[j, i] = float(res[0])
            p[i, j] = p[j, i] = float(res[1])
    p_adj = np.full((m, m), np.nan)
    upper = np.triu_indices(m, k=1)
    pair_p = p[upper]
    tested = np.isfinite(pair_p)
    if tested.any():
        adjusted = np.full(pair_p.shape, np.nan)
        adjusted[tested] = stats.false_discovery_control(pair_p[tested], method="bh")
        p_adj[upper] = adjusted
        p_adj[upper[::-1]] = adjusted
    frame = lambda a: pd.DataFrame(a, index=cols, columns=cols)  # noqa: E731
    return FeatureCorrelation(frame(r), frame(p), frame(p_adj), frame(n), method)


# --- a fitted recipe -----------------------------------------------------------------------------


def explain_components(
    components: Mapping[str, object],
    X: pd.DataFrame,
    y,
    *,
    kind: str,
    folds: int = 5,
    seed: int = 0,
    background_size: int = 100,
    max_evals: int = 500,
) -> pd.DataFrame:
    """Out-of-fold SHAP values (:func:`fold_shap`) of each fitted component of a recipe.

    The template of each component is :func:`hccfusion.models.learners.frozen`: the learner and
    hyper-parameters the component chose on all training patients, with its preprocessing and
    selection refitted in every fold (the convention of the late-fusion folds), so the K fold
    models are the chosen model refitted, not K different learner searches. Returns the long
    table of :func:`fold_shap` with a first column ``component``.
    """
    from hccfusion.models.learners import frozen

    tables = [
        fold_shap(frozen(fitted), X, y, folds, seed, kind=kind, background_size=background_size,
                  max_evals=max_evals).assign(component=name)
        for name, fitted in components.items()
    ]
    if not tables:
        return pd.DataFrame(columns=["component", *SHAP_COLUMNS])
    out = pd.concat(tables, ignore_index=True)
    return out[["component", *SHAP_COLUMNS]]


def selected_features(fitted, X: pd.DataFrame) -> pd.DataFrame:
    """The features a fitted pipeline feeds its learner, as it sees them, for patients ``X``."""
    transform, _ = _split_pipeline(fitted)
    Z = X if transform is None else transform(X)
    return pd.DataFrame(np.asarray(Z, dtype=float), index=X.index,
                        columns=_feature_names(fitted, X))


def correlation_table(corr: FeatureCorrelation) -> pd.DataFrame:
    """Long table of the distinct pairs of a :class:`FeatureCorrelation`:
    ``feature_a, feature_b, r, p, p_adj, n, method``."""
    cols = list(corr.r.columns)
    i, j = np.triu_indices(len(cols), k=1)
    return pd.DataFrame({
        "feature_a": [cols[k] for k in i], "feature_b": [cols[k] for k in j],
        "r": corr.r.to_numpy()[i, j], "p": corr.p.to_numpy()[i, j],
        "p_adj": corr.p_adj.to_numpy()[i, j], "n": corr.n.to_numpy()[i, j],
        "method": corr.method,
    })
