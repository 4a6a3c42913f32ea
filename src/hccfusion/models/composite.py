"""Composite score fusion (GTR-ITH, seed 002) and its ensemble of learners.

Seed 002 selects global-tumour (GTR) and habitat (ITH) radiomics separately, integrates the kept
features into one composite GTR-ITH score by principal component analysis, and predicts response
with an ensemble of several machine-learning algorithms; the score's odds ratio (response) and
hazard ratio (overall survival) are reported per unit. Here the fusion component of a recipe with
``fusion: composite`` is the pipeline ``features -> per-block selection -> CompositeScore ->
learner``, everything fitted on training patients only:

- :class:`CompositeScore`: z-score of the selected features, PCA (scikit-learn), first
  component(s) out; the sign of the first component is oriented on the training outcome (higher =
  more likely class 1 for a binary endpoint, higher = higher hazard for a survival endpoint) so the
  score reads the same way in every cohort and fold.
- :func:`composite_ensemble`: soft-voting ensemble (scikit-learn ``VotingClassifier``) of logistic
  regression, random forest, support vector machine and gradient boosting for binary endpoints;
  a Cox model of the composite score for survival endpoints (its coefficient is the log hazard
  ratio per score unit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sksurv.linear_model import CoxPHSurvivalAnalysis

from hccfusion.models.learners import auc_score, harrell_c

ENSEMBLE_LEARNERS = ("logistic", "random_forest", "svm", "gradient_boosting")


class CompositeScore(TransformerMixin, BaseEstimator):
    """First ``n_components`` principal components of the z-scored features, the first one
    oriented on the training outcome (see the module docstring).

    ``explained_variance_ratio_`` and ``loadings_`` (features x components, on the z-scored
    features) describe the score; ``sign_`` is the orientation applied to the first component.
    """

    def __init__(self, n_components: int = 1):
        self.n_components = n_components

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        if X.shape[1] == 0:
            raise ValueError("composite score: the selection kept no feature")
        k = max(1, min(int(self.n_components), X.shape[1], X.shape[0] - 1))
        self.scaler_ = StandardScaler().fit(X)
        self.pca_ = PCA(n_components=k, svd_solver="full").fit(self.scaler_.transform(X))
        first = self.pca_.transform(self.scaler_.transform(X))[:, 0]
        if y.dtype.names:  # survival: higher = worse (C-index of the score as a risk >= 0.5)
            agree = harrell_c(y, first) >= 0.5
        else:
            agree = auc_score(np.asarray(y), first) >= 0.5
        self.sign_ = 1.0 if agree else -1.0
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_
        self.loadings_ = self.pca_.components_.T * np.r_[self.sign_, np.ones(k - 1)]
        return self

    def transform(self, X):
        out = self.pca_.transform(self.scaler_.transform(np.asarray(X, dtype=float)))
        out[:, 0] *= self.sign_
        return out

    def get_feature_names_out(self, input_features=None):
        return np.array([f"composite_{i + 1}" for i in range(self.pca_.n_components_)],
                        dtype=object)


def composite_ensemble(kind: str, seed: int, learners: Sequence[str] = ENSEMBLE_LEARNERS):
    """The learner after :class:`CompositeScore`: a soft-voting ensemble (binary) or a Cox model
    (survival)."""
    if kind != "binary":
        return CoxPHSurvivalAnalysis(alpha=1e-6, ties="breslow")
    makers = {
        "logistic": lambda: LogisticRegression(max_iter=1000),
        "random_forest": lambda: RandomForestClassifier(n_estimators=200, min_samples_leaf=5,
                                                        random_state=seed),
        # Platt scaling by internal CV (sklearn >= 1.9 retires SVC(probability=True)).
        "svm": lambda: CalibratedClassifierCV(SVC(random_state=seed), method="sigmoid",
                                              ensemble=False),
        "gradient_boosting": lambda: GradientBoostingClassifier(
            n_estimators=100, max_depth=2, learning_rate=0.05, subsample=0.8, random_state=seed),
    }
    unknown = sorted(set(learners) - set(makers))
    if unknown:
        raise ValueError(f"unknown ensemble learner(s) {unknown}; choose from {sorted(makers)}")
    return VotingClassifier([(name, makers[name]()) for name in learners], voting="soft")
