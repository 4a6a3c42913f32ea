"""Binary-endpoint (objective response) learners and late fusion.

- clinical block: L2 logistic regression, C tuned by inner stratified 5-fold CV.
- radiomics block and early fusion: elastic-net logistic regression (saga, l1_ratio 0.5, C tuned
  by inner CV), the selection model of seed 001 (Zou H, Hastie T. Regularization and variable
  selection via the elastic net. J R Stat Soc B 2005;67:301-20).
- late fusion: stacked generalisation (Wolpert DH. Stacked generalization. Neural Netw
  1992;5:241-59): a logistic-regression meta-classifier on out-of-fold probabilities of the base
  models, applied to the base models refitted on all training patients (seed 001, PRIME-R), with
  non-negative base-model weights (:func:`nonnegative_meta`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

DEFAULT_CS = tuple(np.logspace(-3, 2, 11))


def _cv(folds: int, seed: int) -> StratifiedKFold:
    return StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=int(seed))


def neg_log_loss(estimator, X, y) -> float:
    """Negative mean log-loss of a binary classifier.

    Same value as scikit-learn's ``"neg_log_loss"`` scorer without its input validation, which
    dominated the run time of the inner C search on small cohorts.
    """
    p = np.clip(estimator.predict_proba(X)[:, 1], 1e-15, 1 - 1e-15)
    y = np.asarray(y) == estimator.classes_[1]
    return float(np.mean(np.where(y, np.log(p), np.log1p(-p))))


def logistic_cv(models_cfg: Mapping, seed: int, l1_ratio: float) -> LogisticRegressionCV:
    """Logistic regression with C chosen by inner stratified CV on log-loss.

    ``l1_ratio=0`` gives the L2 (ridge) model fitted with lbfgs; ``l1_ratio>0`` the elastic net
    fitted with saga.
    """
    elastic = l1_ratio > 0
    return LogisticRegressionCV(
        Cs=list(models_cfg.get("Cs", DEFAULT_CS)),
        l1_ratios=(float(l1_ratio),),
        solver="saga" if elastic else "lbfgs",
        cv=_cv(models_cfg.get("inner_folds", 5), seed),
        scoring=models_cfg.get("scoring_binary", neg_log_loss),
        max_iter=int(models_cfg.get("max_iter", 2000)),
        tol=float(models_cfg.get("tol", 1e-3 if elastic else 1e-4)),
        random_state=int(seed),
        n_jobs=models_cfg.get("n_jobs", 1),
        use_legacy_attributes=False,
    )


def base_learner(block: str, models_cfg: Mapping, seed: int) -> LogisticRegressionCV:
    """Learner of a single-block or early-fusion component (clinical -> L2, else elastic net)."""
    ratio = 0.0 if block == "clinical" else float(models_cfg.get("l1_ratio", 0.5))
    return logistic_cv(models_cfg, seed, ratio)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


class LateFusionClassifier(ClassifierMixin, BaseEstimator):
    """Stacking of binary base pipelines through a logistic-regression meta-classifier.

    ``fit`` computes out-of-fold scores of every base estimator on the training data (stratified
    ``cv``-fold), fits ``meta`` on them (weights constrained non-negative unless
    ``nonnegative=False``), then refits every base estimator on all training data.

    The meta-features are *centred logits*: a base model's logit minus the mean logit of that
    same fitted model over the patients it was fitted on. Raw out-of-fold probabilities carry a
    fold artefact: a heavily penalised model predicts its training folds' prevalence, which is
    anti-correlated with the held-out fold's prevalence, so the meta-model sees a spurious
    negative score. Centring on each fold model's own training data removes that intercept
    without looking at the held-out patients, and the refitted bases are centred the same way.
    """

    def __init__(self, estimators: Sequence[tuple[str, object]], meta=None, cv: int = 5,
                 random_state: int = 0, nonnegative: bool = True):
        self.estimators = estimators
        self.meta = meta
        self.cv = cv
        self.random_state = random_state
        self.nonnegative = nonnegative

    @staticmethod
    def _take(X, idx):
        return X.iloc[idx] if hasattr(X, "iloc") else X[idx]

    def _meta_features(self, X) -> np.ndarray:
        return np.column_stack([
            _logit(est.predict_proba(X)[:, 1]) - offset
            for (_, est), offset in zip(self.estimators_, self.offsets_, strict=True)
        ])

    def fit(self, X, y):
        y = np.asarray(y)
        splits = list(_cv(self.cv, self.random_state).split(np.zeros(len(y)), y))
        oof = np.zeros((len(y), len(self.estimators)))
        for tr, te in splits:
            Xtr, Xte = self._take(X, tr), self._take(X, te)
            for j, (_, est) in enumerate(self.estimators):
                fold = clone(est).fit(Xtr, y[tr])
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
        self.estimators_ = [(name, clone(est).fit(X, y)) for name, est in self.estimators]
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
