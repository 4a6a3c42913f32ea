"""Cohort-level models of a recipe: one component per block, early fusion and late fusion.

Components (each is a scikit-learn pipeline: block preprocessing fitted on training data, then a
learner; see :mod:`hccfusion.models.response` and :mod:`hccfusion.models.survival`):

- ``<block>`` (e.g. ``clinical``, ``radiomics``): that block alone;
- ``early_fusion``: the preprocessed blocks concatenated, one penalised model;
- ``fusion``: late fusion, a meta-model on out-of-fold scores of the single-block components, with
  non-negative weights.

Scores are response probabilities (binary) or risk scores, higher = shorter survival (survival).

``train_cv`` scores are honest: each comes from an outer stratified K-fold in which the whole
component (preprocessing, inner hyper-parameter CV and, for ``fusion``, the inner out-of-fold
stacking) is refitted on the outer training folds only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from hccfusion.cohort import Cohort, Target, endpoint_target
from hccfusion.models import response, survival
from hccfusion.models.response import LateFusionClassifier
from hccfusion.models.survival import CoxnetCV, LateFusionCox
from hccfusion.preprocess import feature_transformer

__all__ = [
    "CoxnetCV",
    "FittedRecipe",
    "LateFusionClassifier",
    "LateFusionCox",
    "build_components",
    "fit_recipe",
    "model_seed",
]

log = logging.getLogger(__name__)


def model_seed(cfg: Mapping) -> int:
    """Seed of the learners: ``cfg["models"]["seed"]``, else the split seed."""
    models_cfg = cfg.get("models") or {}
    return int(models_cfg.get("seed", cfg.get("split", {}).get("seed", 0)))


def _score(estimator, X, kind: str) -> np.ndarray:
    if kind == "binary":
        return estimator.predict_proba(X)[:, 1]
    return np.asarray(estimator.predict(X), dtype=float)


def build_components(
    block_columns: Mapping[str, Sequence[str]], kind: str, cfg: Mapping
) -> dict[str, Pipeline | LateFusionClassifier | LateFusionCox]:
    """Unfitted components of a recipe for blocks ``{name: columns}``."""
    prep_cfg = cfg.get("preprocessing") or {}
    models_cfg = cfg.get("models") or {}
    seed = model_seed(cfg)
    family = response if kind == "binary" else survival
    comps: dict = {}
    for name, cols in block_columns.items():
        comps[name] = Pipeline(
            [
                ("features", feature_transformer({name: cols}, prep_cfg, kind)),
                ("model", family.base_learner(name, models_cfg, seed)),
            ]
        )
    if len(block_columns) > 1:
        comps["early_fusion"] = Pipeline(
            [
                ("features", feature_transformer(block_columns, prep_cfg, kind)),
                ("model", family.base_learner("early_fusion", models_cfg, seed)),
            ]
        )
        bases = [(name, comps[name]) for name in block_columns]
        folds = int(cfg.get("cv_folds", 5))
        nonneg = bool(models_cfg.get("fusion_nonnegative", True))
        if kind == "binary":
            comps["fusion"] = LateFusionClassifier(
                bases, cv=folds, random_state=seed, nonnegative=nonneg
            )
        else:
            comps["fusion"] = LateFusionCox(
                bases, alpha=float(models_cfg.get("fusion_ridge", 0.01)), cv=folds,
                random_state=seed, nonnegative=nonneg,
            )
    return comps


def _outer_splits(y, kind: str, folds: int, seed: int):
    if kind == "binary":
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(cv.split(np.zeros(len(y)), y))
    return survival.event_splits(y, folds, seed)


def _fit_components(templates: Mapping, X, y) -> dict:
    """Fit every component; the single-block components are taken from the late-fusion model,
    which refits exactly those pipelines on the same data (saves one fit per block)."""
    fitted = {}
    if "fusion" in templates:
        fitted["fusion"] = clone(templates["fusion"]).fit(X, y)
        fitted.update(dict(fitted["fusion"].estimators_))
    for name, template in templates.items():
        if name not in fitted:
            fitted[name] = clone(template).fit(X, y)
    return {name: fitted[name] for name in templates}


@dataclass
class FittedRecipe:
    """Components fitted on the training cohort, plus their honest out-of-fold training scores.

    ``train_cv[component]`` is aligned with ``train_index``; ``y_train`` is the outcome the models
    were fitted on (permuted when ``permuted``); ``dropped`` are training patients without an
    outcome for this endpoint.
    """

    kind: str
    endpoint: Mapping
    blocks: dict[str, list[str]]
    components: dict[str, object]
    train_index: pd.Index
    y_train: np.ndarray
    train_cv: dict[str, np.ndarray] = field(default_factory=dict)
    permuted: bool = False
    dropped: pd.Index = field(default_factory=lambda: pd.Index([]))

    def predict(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Score every patient (row) of ``frame`` with every component."""
        return {name: _score(est, frame, self.kind) for name, est in self.components.items()}


def fit_recipe(
    cohort: Cohort,
    endpoint_cfg: Mapping,
    blocks: Sequence[str],
    cfg: Mapping,
    *,
    oof: bool = True,
) -> FittedRecipe:
    """Fit all components of a recipe on the ``train`` cohort.

    Parameters
    ----------
    cohort
        Assembled cohort (:func:`hccfusion.cohort.assemble`).
    endpoint_cfg
        One entry of ``cfg["endpoints"]``.
    blocks
        Feature blocks, e.g. ``["clinical", "radiomics"]`` (see :meth:`Cohort.block_columns`).
    cfg
        Full configuration (``clinical.exclude``, ``preprocessing``, ``cv_folds``, ``audit``, and
        the optional ``models`` section: ``seed``, ``inner_folds``, ``Cs``, ``l1_ratio``,
        ``n_alphas``, ``alpha_min_ratio``, ``fusion_ridge``, ``fusion_nonnegative``, ``max_iter``,
        ``n_jobs``,
        ``blas_threads``).
    oof
        Compute the nested out-of-fold ``train_cv`` scores (the expensive part).
    """
    kind = endpoint_cfg["type"]
    exclude = list((cfg.get("clinical") or {}).get("exclude", []))
    block_columns = {b: cohort.block_columns(b, exclude) for b in blocks}
    train = cohort.rows("train")
    target: Target = endpoint_target(train, endpoint_cfg)
    X = train.loc[target.index]
    y = target.y
    seed = model_seed(cfg)

    audit = cfg.get("audit") or {}
    permuted = bool(audit.get("permute_training_outcomes", False))
    if permuted:
        # Negative control: break the feature-outcome link before anything is fitted.
        rng = np.random.default_rng(int(audit.get("seed", seed)))
        y = y[rng.permutation(len(y))]
        log.warning("audit: training outcomes permuted (negative control)")

    templates = build_components(block_columns, kind, cfg)
    folds = int(cfg.get("cv_folds", 5))
    blas_threads = int((cfg.get("models") or {}).get("blas_threads", 1))

    train_cv: dict[str, np.ndarray] = {}
    # Thousands of tiny solver calls: multi-threaded BLAS only adds synchronisation cost here
    # (measured 5x slower on 2 cores); parallelism belongs to the workflow's jobs.
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        if oof:
            for name in templates:
                train_cv[name] = np.full(len(y), np.nan)
            for tr, te in _outer_splits(y, kind, folds, seed):
                fold_fit = _fit_components(templates, X.iloc[tr], y[tr])
                for name, est in fold_fit.items():
                    train_cv[name][te] = _score(est, X.iloc[te], kind)
        fitted = _fit_components(templates, X, y)
    return FittedRecipe(
        kind=kind,
        endpoint=dict(endpoint_cfg),
        blocks={b: list(c) for b, c in block_columns.items()},
        components=fitted,
        train_index=target.index,
        y_train=y,
        train_cv=train_cv,
        permuted=permuted,
        dropped=target.dropped,
    )
