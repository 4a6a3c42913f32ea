"""Candidate learners of a block and the choice among them by grid search with inner CV.

Seed 001 compares, per modality, five ensemble classifiers for response and three survival
learners for overall survival by 5-fold cross-validation on the training set, and tunes the
best by grid search. :class:`LearnerSearch` does both at once: every configuration of every
candidate learner (the grid of ``cfg["models"]["grids"]``) is scored on the same inner folds
(stratified on the outcome, or on the event for survival), the best mean score wins (AUC for
response, Harrell's C for survival; ties go to the learner listed first, then the first grid
point), and the winner is refitted on all training patients.

Response learners (``models.learners_binary``):

- ``elastic_net``: elastic-net logistic regression (saga, l1_ratio ``models.l1_ratio``, C from
  ``models.Cs``), the model seed 001 selects with;
- ``bagging``: bagged decision trees (Breiman L. Bagging predictors. Mach Learn 1996;24:123-40);
- ``adaboost``: AdaBoost (SAMME) of decision stumps (Freund Y, Schapire RE. J Comput Syst Sci
  1997;55:119-39);
- ``stacking``: logistic regression, RBF support vector machine and a depth-3 tree stacked by a
  logistic regression on their inner out-of-fold outputs (Wolpert 1992);
- ``rotation_forest``: :class:`~hccfusion.models.rotation_forest.RotationForestClassifier`;
- ``sgb``: stochastic gradient boosting, gradient boosting with ``subsample < 1`` (Friedman JH.
  Stochastic gradient boosting. Comput Stat Data Anal 2002;38:367-78; "GTBR" in seed 001).

Survival learners (``models.learners_survival``):

- ``coxnet``: elastic-net Cox with its penalty tuned by its own inner CV
  (:class:`~hccfusion.models.survival.CoxnetCV`);
- ``rsf``: random survival forest (Ishwaran H et al. Ann Appl Stat 2008;2:841-60);
- ``gbsa``: gradient-boosted Cox model of regression trees (scikit-survival
  ``GradientBoostingSurvivalAnalysis``, Cox partial-likelihood loss);
- ``fast_svm``: FastSurvivalSVM (ranking objective), with survival probabilities from a Cox
  recalibration and Breslow baseline (:class:`~hccfusion.models.breslow.FastSurvivalSVMBreslow`).

Boosting learners (``adaboost``, ``sgb``, ``gbsa``) search ``n_estimators`` in one fit per fold:
the largest ensemble is fitted and its staged predictions are scored at every requested size
(identical to refitting with fewer stages for the same seed).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from itertools import groupby

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    GradientBoostingClassifier,
    StackingClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterGrid, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted
from sksurv.ensemble import GradientBoostingSurvivalAnalysis, RandomSurvivalForest
from sksurv.metrics import concordance_index_censored

from hccfusion.models.breslow import FastSurvivalSVMBreslow, GradientBoostingSurvivalStable
from hccfusion.models.rotation_forest import RotationForestClassifier

__all__ = [
    "BINARY_LEARNERS",
    "DEFAULT_GRIDS",
    "SURVIVAL_LEARNERS",
    "LearnerSearch",
    "auc_score",
    "candidates",
    "frozen",
    "harrell_c",
    "make_learner",
]

log = logging.getLogger(__name__)

BINARY_LEARNERS = ("elastic_net", "bagging", "adaboost", "stacking", "rotation_forest", "sgb")
SURVIVAL_LEARNERS = ("coxnet", "rsf", "gbsa", "fast_svm")

#: Hyper-parameter grids searched by default (``models.grids`` overrides them learner by learner;
#: ``elastic_net`` takes ``models.Cs`` and ``coxnet`` tunes its own penalty path). Small on
#: purpose: the grid is searched in every outer fold of the nested ``train_cv`` estimate.
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "bagging": {"n_estimators": [50], "max_features": [0.5, 1.0]},
    "adaboost": {"n_estimators": [25, 50], "learning_rate": [0.1, 1.0]},
    "stacking": {"final_estimator__C": [1.0]},
    "rotation_forest": {"n_estimators": [20], "n_features_per_subset": [3]},
    "sgb": {"n_estimators": [50, 100], "learning_rate": [0.1], "max_depth": [2],
            "subsample": [0.7]},
    "rsf": {"n_estimators": [100], "min_samples_leaf": [5, 10]},
    "gbsa": {"n_estimators": [50, 100, 200], "learning_rate": [0.05], "max_depth": [1],
             "subsample": [0.8]},
    "fast_svm": {"alpha": [0.01, 0.1, 1.0]},
}


def auc_score(y, score) -> float:
    """Area under the ROC curve (Mann-Whitney), NaN when one class is absent."""
    y = np.asarray(y)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return np.nan
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def harrell_c(y, risk) -> float:
    """Harrell's C of a risk score (higher = shorter survival), NaN without comparable pairs."""
    event, time = y[y.dtype.names[0]].astype(bool), y[y.dtype.names[1]]
    if not event.any():
        return np.nan
    try:
        return float(concordance_index_censored(event, time, np.asarray(risk, float))[0])
    except ValueError:
        return np.nan


def make_learner(name: str, models_cfg: Mapping, seed: int):
    """Unfitted learner ``name`` with its fixed (non-searched) settings."""
    from hccfusion.models.survival import CoxnetCV

    folds = int(models_cfg.get("inner_folds", 5))
    seed = int(seed)
    if name == "elastic_net":
        return LogisticRegression(
            l1_ratio=float(models_cfg.get("l1_ratio", 0.5)), solver="saga",
            max_iter=int(models_cfg.get("max_iter", 2000)), tol=1e-3, random_state=seed,
        )
    if name == "bagging":
        return BaggingClassifier(DecisionTreeClassifier(random_state=seed), random_state=seed)
    if name == "adaboost":
        return AdaBoostClassifier(DecisionTreeClassifier(max_depth=1, random_state=seed),
                                  random_state=seed)
    if name == "stacking":
        return StackingClassifier(
            [("logistic", LogisticRegression()),
             ("svm", SVC(random_state=seed)),
             ("tree", DecisionTreeClassifier(max_depth=3, random_state=seed))],
            final_estimator=LogisticRegression(),
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        )
    if name == "rotation_forest":
        return RotationForestClassifier(random_state=seed)
    if name == "sgb":
        return GradientBoostingClassifier(subsample=0.7, random_state=seed)
    if name == "coxnet":
        return CoxnetCV(
            l1_ratio=float(models_cfg.get("l1_ratio", 0.5)),
            n_alphas=int(models_cfg.get("n_alphas", 30)),
            alpha_min_ratio=float(models_cfg.get("alpha_min_ratio", 0.05)),
            cv=folds, random_state=seed,
        )
    if name == "rsf":
        return RandomSurvivalForest(random_state=seed, n_jobs=1)
    if name == "gbsa":
        return GradientBoostingSurvivalStable(random_state=seed)
    if name == "fast_svm":
        return FastSurvivalSVMBreslow(max_iter=50, random_state=seed)
    raise ValueError(f"unknown learner {name!r}")


def _grid(name: str, models_cfg: Mapping) -> dict[str, list]:
    if name == "elastic_net":
        return {"C": [float(c) for c in models_cfg.get("Cs", (0.01, 0.1, 1.0, 10.0))]}
    if name == "coxnet":
        return {}
    grids = models_cfg.get("grids") or {}
    return {k: list(v) for k, v in (grids.get(name) or DEFAULT_GRIDS[name]).items()}


def candidates(kind: str, models_cfg: Mapping, seed: int) -> list[tuple[str, object, dict]]:
    """``(name, learner, grid)`` of every configured learner for an endpoint ``kind``."""
    if kind == "binary":
        names = models_cfg.get("learners_binary") or BINARY_LEARNERS
        known = BINARY_LEARNERS
    else:
        names = models_cfg.get("learners_survival") or SURVIVAL_LEARNERS
        known = SURVIVAL_LEARNERS
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown {kind} learner(s) {unknown}; known: {', '.join(known)}")
    return [(name, make_learner(name, models_cfg, seed), _grid(name, models_cfg))
            for name in names]


def _take(X, idx):
    return X.iloc[idx] if hasattr(X, "iloc") else X[idx]


def _staged(estimator, kind: str):
    """The staged-prediction method of a boosting learner, else None."""
    method = "staged_predict_proba" if kind == "binary" else "staged_predict"
    if isinstance(estimator, (AdaBoostClassifier, GradientBoostingClassifier,
                              GradientBoostingSurvivalAnalysis)) and hasattr(estimator, method):
        return method
    return None


def _configurations(estimator, grid: Mapping, kind: str):
    """Fits needed for a grid: ``[(fit_params, [params of each scored configuration])]``.

    For a boosting learner the ``n_estimators`` values of a grid point share one fit with the
    largest value (scored through staged predictions)."""
    points = list(ParameterGrid(dict(grid))) if grid else [{}]
    if _staged(estimator, kind) is None or not all("n_estimators" in p for p in points):
        return [(p, [p]) for p in points]

    def rest(p):
        return json.dumps({k: v for k, v in p.items() if k != "n_estimators"}, sort_keys=True,
                          default=str)

    fits = []
    for _, group in groupby(sorted(points, key=rest), key=rest):
        group = sorted(group, key=lambda p: p["n_estimators"])
        fits.append(({**group[-1]}, group))
    # keep the grid order of the first point of each group
    order = {rest(p): i for i, p in enumerate(points)}
    return sorted(fits, key=lambda f: order[rest(f[0])])


def _predictions(fitted, X, kind: str, stages: Sequence[int] | None):
    """Scores of a fitted learner (per requested ensemble size when ``stages``)."""
    if stages is None:
        if kind == "binary":
            return [fitted.predict_proba(X)[:, 1]]
        return [np.asarray(fitted.predict(X), dtype=float)]
    method = _staged(fitted, kind)
    wanted = {int(s): i for i, s in enumerate(stages)}
    out: list = [None] * len(stages)
    last = None
    for k, pred in enumerate(getattr(fitted, method)(X), start=1):
        last = pred[:, 1] if kind == "binary" else np.asarray(pred, dtype=float)
        if k in wanted:
            out[wanted[k]] = last
    # an AdaBoost ensemble stops early when a stage fits perfectly: later sizes equal the last
    return [last if o is None else o for o in out]


_FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, FloatingPointError)


class LearnerSearch(BaseEstimator):
    """Choose a learner and its hyper-parameters by inner cross-validation, then refit it.

    Parameters
    ----------
    learners
        ``[(name, estimator, grid)]``; ``grid`` maps parameter names to lists of values.
    kind
        ``"binary"`` (score: AUC of ``predict_proba[:, 1]``) or ``"survival"`` (Harrell's C of
        ``predict``, a risk score).
    cv
        Number of inner folds (stratified on the outcome or on the event indicator).
    random_state
        Seed of the folds.

    A configuration whose fit fails in a fold (a solver error, too few events) is scored on the
    other folds (``n_folds``); one that fails everywhere is never chosen. Learners are fitted
    on float arrays (the column names are checked by the search itself).

    Attributes
    ----------
    cv_results_ : DataFrame
        One row per learner configuration: ``learner, params`` (JSON), ``mean, sd`` (standard
        deviation over folds), ``n_folds, scores, chosen`` (stored as plain arrays in
        ``results_``).
    best_learner_, best_params_, best_score_
        The chosen learner's name, its parameters and its mean inner-CV score.
    best_estimator_
        The chosen configuration refitted on all data.
    """

    def __init__(self, learners: Sequence[tuple[str, object, Mapping]], kind: str = "binary",
                 cv: int = 5, random_state: int = 0):
        self.learners = learners
        self.kind = kind
        self.cv = cv
        self.random_state = random_state

    def _splits(self, y):
        from hccfusion.models.survival import event_splits

        if self.kind == "binary":
            labels = np.asarray(y)
            k = min(int(self.cv), int(np.min(np.unique(labels, return_counts=True)[1])))
            cv = StratifiedKFold(max(k, 2), shuffle=True, random_state=int(self.random_state))
            return list(cv.split(np.zeros(len(labels)), labels))
        return event_splits(y, int(self.cv), int(self.random_state))

    def _score(self, y, pred) -> float:
        if self.kind == "binary":
            return auc_score(np.asarray(y) == self.classes_[-1], pred)
        return harrell_c(y, pred)

    def _array(self, X, reset: bool = False) -> np.ndarray:
        """Learners see a float array: scikit-learn validates DataFrames column by column in
        every one of the thousands of small fits (a third of the search time). Column names are
        checked here instead."""
        names = np.asarray(X.columns, dtype=object) if hasattr(X, "columns") else None
        if reset:
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif names is not None and hasattr(self, "feature_names_in_"):
            if len(names) != len(self.feature_names_in_) or (names != self.feature_names_in_).any():
                raise ValueError("feature names differ from those seen in fit")
        return np.asarray(X, dtype=float)

    def fit(self, X, y):
        if self.kind not in ("binary", "survival"):
            raise ValueError(f"kind must be 'binary' or 'survival', got {self.kind!r}")
        X = self._array(X, reset=True)
        self.n_features_in_ = X.shape[1]
        if self.kind == "binary":
            self.classes_ = np.unique(y)
        splits = self._splits(y)
        rows = []
        for name, estimator, grid in self.learners:
            configs = _configurations(estimator, grid, self.kind)
            scores = {}
            for fit_params, scored in configs:
                stages = [p["n_estimators"] for p in scored] if len(scored) > 1 else None
                per_fold = np.full((len(splits), len(scored)), np.nan)
                for f, (tr, te) in enumerate(splits):
                    model = clone(estimator).set_params(**fit_params)
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", ConvergenceWarning)
                            warnings.filterwarnings("ignore", category=RuntimeWarning)
                            warnings.filterwarnings("ignore", message="all coefficients are zero")
                            model.fit(_take(X, tr), y[tr])
                            preds = _predictions(model, _take(X, te), self.kind, stages)
                    except _FIT_ERRORS as exc:
                        log.info("learner %s %s failed in an inner fold: %s", name, fit_params,
                                 exc)
                        continue
                    per_fold[f] = [self._score(y[te], p) for p in preds]
                for j, params in enumerate(scored):
                    scores[json.dumps(params, sort_keys=True, default=str)] = (params,
                                                                              per_fold[:, j])
            for params, fold_scores in scores.values():
                ok = np.isfinite(fold_scores)
                rows.append((name, params, fold_scores,
                             float(np.mean(fold_scores[ok])) if ok.any() else np.nan,
                             float(np.std(fold_scores[ok], ddof=1)) if ok.sum() > 1 else np.nan,
                             int(ok.sum())))
        means = np.array([r[3] for r in rows], dtype=float)
        if not np.isfinite(means).any():
            raise ArithmeticError("every candidate learner failed in inner cross-validation")
        best = int(np.nanargmax(means))  # the first of equal means: learner order, grid order
        # Plain arrays and strings (not a DataFrame) so that skops can store the fitted search.
        self.results_ = {
            "learner": [r[0] for r in rows],
            "params": [json.dumps(r[1], sort_keys=True, default=str) for r in rows],
            "mean": means,
            "sd": np.array([r[4] for r in rows], dtype=float),
            "n_folds": np.array([r[5] for r in rows], dtype=int),
            "scores": np.vstack([r[2] for r in rows]),
            "chosen": np.arange(len(rows)) == best,
        }
        self.best_learner_ = rows[best][0]
        self.best_params_ = dict(rows[best][1])
        self.best_score_ = float(means[best])
        template = dict((n, e) for n, e, _ in self.learners)[self.best_learner_]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.filterwarnings("ignore", message="all coefficients are zero")
            self.best_estimator_ = clone(template).set_params(**self.best_params_).fit(X, y)
        return self

    @property
    def cv_results_(self) -> pd.DataFrame:
        """One row per configuration: ``learner, params, mean, sd, n_folds, scores, chosen``."""
        check_is_fitted(self, "results_")
        res = dict(self.results_)
        res["scores"] = list(res["scores"])
        return pd.DataFrame(res)

    @property
    def learner_scores_(self) -> pd.DataFrame:
        """Best configuration of each learner: ``learner, metric, mean, sd, params, chosen``."""
        res = self.cv_results_
        rows = []
        for name, group in res.groupby("learner", sort=False):
            ok = group[group["mean"].notna()]
            row = group.iloc[0] if ok.empty else ok.loc[ok["mean"].idxmax()]
            rows.append({
                "learner": name, "metric": "auc" if self.kind == "binary" else "cindex",
                "mean": row["mean"], "sd": row["sd"], "params": row["params"],
                "chosen": bool(group["chosen"].any()),
            })
        return pd.DataFrame(rows)

    # -- delegation to the chosen learner ------------------------------------------------------
    def predict_proba(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(self._array(X))

    def predict(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(self._array(X))

    def predict_survival_function(self, X, return_array: bool = False):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_survival_function(self._array(X),
                                                              return_array=return_array)

    def predict_cumulative_hazard_function(self, X, return_array: bool = False):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_cumulative_hazard_function(
            self._array(X), return_array=return_array)


def frozen(estimator):
    """Unfitted copy of a fitted model in which every :class:`LearnerSearch` is replaced by the
    learner it chose, with the chosen hyper-parameters (everything else, e.g. preprocessing and
    selection, stays as it was and is refitted when the copy is fitted)."""
    if isinstance(estimator, LearnerSearch):
        check_is_fitted(estimator, "best_estimator_")
        return clone(estimator.best_estimator_)
    if isinstance(estimator, Pipeline):
        steps = [(name, step if step in (None, "passthrough") else frozen(step))
                 for name, step in estimator.steps]
        return clone(estimator).set_params(steps=steps)
    return clone(estimator)
