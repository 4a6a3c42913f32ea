"""Rotation Forest classifier.

Rodriguez JJ, Kuncheva LI, Alonso CJ. Rotation forest: a new classifier ensemble method. IEEE
Trans Pattern Anal Mach Intell 2006;28:1619-30.

Each tree of the ensemble is trained on the whole training set expressed in its own rotated
coordinate system. For tree ``i``:

1. the features are split at random into ``K = ceil(p / M)`` disjoint subsets of (about) ``M =
   n_features_per_subset`` features;
2. for every subset, a random non-empty subset of the classes is drawn (each class with
   probability 1/2), and a bootstrap sample of ``sample_fraction`` (75 % in the paper) of the
   training patients of those classes is taken;
3. principal component analysis of the subset's features on that bootstrap sample gives an
   ``M x M`` rotation (all components are kept; when the sample is smaller than ``M`` the basis is
   completed by the orthogonal complement, as a full SVD does);
4. the subset rotations are arranged into a ``p x p`` (permuted block-diagonal) matrix ``R_i``;
5. a decision tree is fitted on ``X R_i``.

The ensemble's class probability is the mean of the trees' probabilities on ``X R_i``. The random
subsets of features and classes and the bootstrap keep the trees diverse; keeping every principal
component keeps all the information for each tree (Rodriguez et al., section 2).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["RotationForestClassifier"]


class RotationForestClassifier(ClassifierMixin, BaseEstimator):
    """Rotation Forest (Rodriguez et al. 2006) of decision trees.

    Parameters
    ----------
    n_estimators
        Number of rotated trees.
    n_features_per_subset
        ``M``, the size of the random feature subsets (clipped to the number of features).
    sample_fraction
        Size of the bootstrap sample on which each subset's PCA is computed, as a fraction of the
        patients of the drawn classes (0.75 in the paper).
    max_depth, min_samples_leaf, criterion
        Passed to each :class:`~sklearn.tree.DecisionTreeClassifier`.
    random_state
        Seed of the feature split, class subsets, bootstraps and trees.

    Attributes
    ----------
    classes_ : ndarray
        Class labels.
    estimators_ : list of DecisionTreeClassifier
        The fitted trees (trained on encoded labels ``0 .. n_classes - 1``).
    rotations_ : list of ndarray, shape (n_features, n_features)
        Rotation matrix of each tree.
    """

    def __init__(self, n_estimators: int = 10, n_features_per_subset: int = 3,
                 sample_fraction: float = 0.75, max_depth: int | None = None,
                 min_samples_leaf: int = 1, criterion: str = "gini", random_state=None):
        self.n_estimators = n_estimators
        self.n_features_per_subset = n_features_per_subset
        self.sample_fraction = sample_fraction
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.criterion = criterion
        self.random_state = random_state

    def _check_params(self) -> None:
        if not isinstance(self.n_estimators, numbers.Integral) or self.n_estimators < 1:
            raise ValueError(f"n_estimators must be a positive integer, got {self.n_estimators!r}")
        m = self.n_features_per_subset
        if not isinstance(m, numbers.Integral) or m < 1:
            raise ValueError(f"n_features_per_subset must be a positive integer, got {m!r}")
        f = self.sample_fraction
        if not isinstance(f, numbers.Real) or not 0 < f <= 1:
            raise ValueError(f"sample_fraction must be in (0, 1], got {f!r}")

    def _rotation(self, X: np.ndarray, y: np.ndarray, n_classes: int, rng) -> np.ndarray:
        n, p = X.shape
        m = min(int(self.n_features_per_subset), p)
        subsets = np.array_split(rng.permutation(p), int(np.ceil(p / m)))
        rotation = np.zeros((p, p))
        for cols in subsets:
            classes = np.flatnonzero(rng.random(n_classes) < 0.5)
            if classes.size == 0:
                classes = np.array([rng.integers(n_classes)])
            rows = np.flatnonzero(np.isin(y, classes))
            size = max(2, int(round(self.sample_fraction * rows.size)))
            sample = X[np.ix_(rng.choice(rows, size=size, replace=True), cols)]
            sample = sample - sample.mean(axis=0)
            # Full SVD: rows of vt are the principal axes, completed to an orthonormal basis.
            _, _, vt = np.linalg.svd(sample, full_matrices=True)
            rotation[np.ix_(cols, cols)] = vt.T
        return rotation

    def fit(self, X, y):
        """Fit ``n_estimators`` rotated trees on ``X`` (n_samples, n_features) and labels ``y``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31 - 1))
        self.rotations_, self.estimators_ = [], []
        for _ in range(int(self.n_estimators)):
            rotation = self._rotation(X, y_enc, len(self.classes_), rng)
            tree = DecisionTreeClassifier(
                criterion=self.criterion, max_depth=self.max_depth,
                min_samples_leaf=self.min_samples_leaf,
                random_state=int(rng.integers(2**31 - 1)),
            )
            tree.fit(X @ rotation, y_enc)
            self.rotations_.append(rotation)
            self.estimators_.append(tree)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Mean class probabilities of the trees, columns in the order of ``classes_``."""
        check_is_fitted(self, "estimators_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        proba = np.zeros((X.shape[0], len(self.classes_)))
        for rotation, tree in zip(self.rotations_, self.estimators_, strict=True):
            proba[:, tree.classes_.astype(int)] += tree.predict_proba(X @ rotation)
        return proba / len(self.estimators_)

    def predict(self, X) -> np.ndarray:
        """Class with the highest mean probability."""
        check_is_fitted(self, "estimators_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
