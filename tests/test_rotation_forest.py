"""Rotation Forest: a scikit-learn classifier that beats a single tree, with rotations as in
Rodriguez et al. (2006)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import check_estimator

from hccfusion.models.rotation_forest import RotationForestClassifier


def test_sklearn_estimator_checks():
    results = check_estimator(RotationForestClassifier(n_estimators=5, random_state=0),
                              on_fail=None, on_skip=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert not failed
    assert len(results) > 40
    # The only check not run is the array-API one (needs SCIPY_ARRAY_API; trees take numpy).
    assert {r["check_name"] for r in results if r["status"] == "skipped"} <= {
        "check_array_api_input"}


def test_beats_a_single_tree_on_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rf_auc, tree_auc, rf_acc, tree_acc = [], [], [], []
    for seed in (0, 1, 2):
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
        rf = RotationForestClassifier(n_estimators=15, random_state=seed).fit(Xtr, ytr)
        tree = DecisionTreeClassifier(random_state=seed).fit(Xtr, ytr)
        rf_auc.append(roc_auc_score(yte, rf.predict_proba(Xte)[:, 1]))
        tree_auc.append(roc_auc_score(yte, tree.predict_proba(Xte)[:, 1]))
        rf_acc.append(accuracy_score(yte, rf.predict(Xte)))
        tree_acc.append(accuracy_score(yte, tree.predict(Xte)))
    assert np.mean(rf_auc) > 0.97 and np.mean(rf_auc) > np.mean(tree_auc) + 0.03
    assert np.mean(rf_acc) > np.mean(tree_acc)


def test_rotations_are_orthogonal_blocks_of_random_feature_subsets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 7)) @ rng.normal(size=(7, 7))
    y = (X[:, 0] > 0).astype(int)
    rf = RotationForestClassifier(n_estimators=6, n_features_per_subset=3, random_state=1).fit(X, y)
    partitions = set()
    for R in rf.rotations_:
        np.testing.assert_allclose(R.T @ R, np.eye(7), atol=1e-10)
        # Features i and j share a block iff they were in the same random subset.
        linked = (np.abs(R) > 1e-12).astype(int)
        same = (linked @ linked.T) > 0
        blocks = {frozenset(np.flatnonzero(row)) for row in same}
        assert sorted(len(b) for b in blocks) == [2, 2, 3]  # 7 features, M = 3
        assert set().union(*blocks) == set(range(7))
        partitions.add(frozenset(blocks))
    assert len(partitions) > 1  # each tree draws its own subsets


def test_deterministic_for_a_seed_and_varies_with_it():
    X, y = load_breast_cancer(return_X_y=True)
    X, Xnew, y = X[:200], X[200:], y[:200]
    a = RotationForestClassifier(n_estimators=5, random_state=3).fit(X, y).predict_proba(Xnew)
    b = RotationForestClassifier(n_estimators=5, random_state=3).fit(X, y).predict_proba(Xnew)
    c = RotationForestClassifier(n_estimators=5, random_state=4).fit(X, y).predict_proba(Xnew)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("params", [{"n_features_per_subset": 0}, {"n_estimators": 0},
                                    {"sample_fraction": 1.5}])
def test_invalid_parameters_are_refused(params):
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError):
        RotationForestClassifier(**params).fit(X[:50], y[:50])
