"""Binary-endpoint (objective response) late fusion.

The single-block and early-fusion components are pipelines of preprocessing, selection
(:mod:`hccfusion.selection`) and a learner chosen by inner CV (:mod:`hccfusion.models.learners`).
Late fusion (PRIME-R, seed 001) is stacked generalisation (Wolpert DH. Stacked generalization.
Neural Netw 1992;5:241-59): a logistic-regression meta-classifier on out-of-fold probabilities of
the best clinical and the best radiomics model, applied to those models refitted on all training
patients, with non-negative base-model weights (:func:`nonnegative_meta`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from hccfusion.models.learners import frozen


def _cv(folds: int, seed: int) -> StratifiedKFold:
    return StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=int(seed))


def neg_log_loss(estimator, X, y) -> float:
    """Negative mean log-loss of a binary classifier.

    Same value as scikit-learn's ``"neg_log_loss"`` scorer without its input validation.
    """
    p = np.clip(estimator.predict_proba(X)[:, 1], 1e-15, 1 - 1e-15)
    y = np.asarray(y) == estimator.classes_[1]
    return float(np.mean(np.where(y, np.log(p), np.log1p(-p))))


def _logit(p: np.ndarray) -> np.ndarray:
    # Tree ensembles give probabilities of exactly 0 or 1; clipping at 1e-3 (logit +-6.9) keeps
    # one such patient from dominating the meta-classifier's fit.
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p) - np.log1p(-p)


class LateFusionClassifier(ClassifierMixin, BaseEstimator):
    """Stacking of binary base pipelines through a logistic-regression meta-classifier.

    ``fit`` refits every base estimator on all training data, computes out-of-fold scores of
    every base estimator on the training data (stratified ``cv``-fold) and fits ``meta`` on them
    (weights constrained non-negative unless ``nonnegative=False``). With
    ``fold_search="frozen"`` (default) the out-of-fold fits reuse the learner and
    hyper-parameters each base pipeline chose on all training data
    (:func:`~hccfusion.models.learners.frozen`; preprocessing and selection are refitted in every
    fold); ``"full"`` repeats the learner search in every fold. Either way the fusion's own
    ``train_cv`` estimate is honest: the outer folds refit the whole fusion.

    The meta-features are *centred logits*: a base model's logit minus the mean logit of that
    same fitted model over the patients it was fitted on. Raw out-of-fold probabilities carry a
    fold artefact: a heavily penalised model predicts its training folds' prevalence, which is
    anti-correlated with the held-out fold's prevalence, so the meta-model sees a spurious
    negative score. Centring on each fold model's own training data removes that intercept
    without looking at the held-out patients, and the refitted bases are centred the same way.
    """

    def __init__(self, estimators: Sequence[tuple[str, object]], meta=None, cv: int = 5,
                 random_state: int = 0, nonnegative: bool = True, fold_search: str = "frozen"):
        self.estimators = estimators
        self.meta = meta
        self.cv = cv
        self.random_state = random_state
        self.nonnegative = nonnegative
        self.fold_search = fold_search

    @staticmethod
    def _take(X, idx):
        return X.iloc[idx] if hasattr(X, "iloc") else X[idx]

    def _meta_features(self, X) -> np.ndarray:
        return np.column_stack([
            _logit(est.predict_proba(X)[:, 1]) - offset
            for (_, est), offset in zip(self.estimators_, self.offsets_, strict=True)
        ])

    def fit(self, X, y):
        if self.fold_search not in ("frozen", "full"):
            raise ValueError(f"fold_search must be 'frozen' or 'full', got {self.fold_search!r}")
        y = np.asarray(y)
        self.estimators_ = [(name, clone(est).fit(X, y)) for name, est in self.estimators]
        splits = list(_cv(self.cv, self.random_state).split(np.zeros(len(y)), y))
        oof = np.zeros((len(y), len(self.estimators)))
        for tr, te in splits:
            Xtr, Xte = self._take(X, tr), self._take(X, te)
            for j, (_, fitted) in enumerate(self.estimators_):
                template = (frozen(fitted) if self.fold_search == "frozen"
                            else clone(self.estimators[j][1]))
                fold = template.fit(Xtr, y[tr])
                offset = _logit(fold.predict_proba(Xtr)[:, 1]).mean()
                oof[te, j] = _logit(fold.predict_proba(Xte)[:, 1]) - offset
        self.oof_ = oof
        meta = LogisticRegression() if self.meta is None else self.meta
        self.kept_, self.meta_ = nonnegative_meta(
            lambda cols: clone(meta).fit(self.oof_[:, cols], y),
            lambda model: model.coef_.ravel(),
            self.oof_.shape[1],
            self.nonnegative,
        )
        self.prevalence_ = float(np.mean(y == np.unique(y)[-1]))
        self.offsets_ = [_logit(est.predict_proba(X)[:, 1]).mean() for _, est in self.estimators_]
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "kept_")
        if not self.kept_:
            p = np.full(len(X), self.prevalence_)
            return np.column_stack([1 - p, p])
        return self.meta_.predict_proba(self._meta_features(X)[:, self.kept_])

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    @property
    def weights_(self) -> dict[str, float]:
        """Meta-classifier coefficient of each base model (0 for a dropped base model)."""
        coef = np.zeros(len(self.estimators))
        if self.kept_:
            coef[self.kept_] = self.meta_.coef_.ravel()
        return {name: float(c) for (name, _), c in zip(self.estimators, coef, strict=True)}


def nonnegative_meta(fit, coef, n_bases: int, nonnegative: bool = True):
    """Fit a stacking meta-model whose base-model weights are all positive.

    Breiman L. Stacked regressions. Mach Learn 1996;24:49-64: unconstrained stacking weights
    are unstable and may turn a base model upside down; constrain them to be non-negative. With
    out-of-fold scores from small training sets an anti-concordant base score is noise, so the
    base with the most negative weight is dropped and the meta-model refitted until all weights
    are positive (an active-set solution for the few bases used here). Returns the kept base
    indices and the meta-model (``None`` when no base model survives: constant prediction).
    """
    kept = list(range(n_bases))
    while kept:
        model = fit(kept)
        weights = np.asarray(coef(model), dtype=float)
        if not nonnegative or (weights > 0).all():
            return kept, model
        del kept[int(np.argmin(weights))]
    return [], None
