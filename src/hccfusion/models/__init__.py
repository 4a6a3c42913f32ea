"""Cohort-level models of a recipe: one component per block, early fusion and late fusion.

Components (scikit-learn pipelines ``features -> select -> model``: the block preprocessing of
:mod:`hccfusion.preprocess`, the seed-001 selection of :mod:`hccfusion.selection`, and a
:class:`~hccfusion.models.learners.LearnerSearch` that picks the best candidate learner and its
hyper-parameters by inner CV; everything is refitted whenever the pipeline is fitted):

- ``<block>`` (e.g. ``clinical``, ``radiomics``): that block alone;
- ``early_fusion``: the blocks preprocessed and selected block by block, concatenated, one
  learner search (feature-level fusion, the comparator of seed 001);
- ``fusion``: late fusion of the single-block components, fitted on their out-of-fold scores
  only. Binary (PRIME-R): logistic meta-classifier with non-negative weights
  (:class:`~hccfusion.models.response.LateFusionClassifier`). Survival (PRIME-S): Bayesian model
  averaging with BIC weights from the Cox partial likelihood of each modality's out-of-fold risk
  (:class:`~hccfusion.models.bma.BayesianModelAveraging`; ``models.survival_fusion: cox`` gives
  a Cox meta-model instead). With the recipe's ``fusion: composite`` (GTR-ITH, seed 002) it is
  instead one pipeline: the blocks selected block by block, a PCA composite score, an ensemble of
  learners (:mod:`hccfusion.models.composite`).
- ``early_<block>_<block>`` (a recipe's ``fuse_like``, CRM of seeds 003/004): blocks fused early
  that enter the late fusion as one score;
- named comparators (seeds 000 and 003): a model of another block that is not fused (e.g. the
  radiomics-only model beside a deep-learning fusion) or an existing score such as mRECIST or
  CLIP (:class:`~hccfusion.models.comparators.ScoreModel`), fitted on the same training patients.

Scores are response probabilities (binary) or risk scores, higher = shorter survival (survival).
Every survival component also gives survival probabilities (:meth:`FittedRecipe.predict_survival`).

``train_cv`` scores are honest: each comes from an outer K-fold (stratified on the outcome or the
event) in which the whole component (preprocessing, selection, learner search and, for
``fusion``, its inner out-of-fold stacking) is refitted on the outer training folds only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from hccfusion.cohort import Cohort, Target, endpoint_target
from hccfusion.errors import name_list
from hccfusion.models import survival
from hccfusion.models.bma import BayesianModelAveraging
from hccfusion.models.breslow import survival_at
from hccfusion.models.comparators import ScoreModel
from hccfusion.models.composite import ENSEMBLE_LEARNERS, CompositeScore, composite_ensemble
from hccfusion.models.learners import LearnerSearch, candidates
from hccfusion.models.response import LateFusionClassifier
from hccfusion.models.survival import CoxnetCV, LateFusionCox
from hccfusion.preprocess import feature_transformer
from hccfusion.selection import BlockSelector, block_selector

__all__ = [
    "BayesianModelAveraging",
    "CoxnetCV",
    "FittedRecipe",
    "LateFusionClassifier",
    "LateFusionCox",
    "LearnerSearch",
    "build_components",
    "component_pipeline",
    "fit_recipe",
    "model_seed",
    "training_data",
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


def component_pipeline(block_columns: Mapping[str, Sequence[str]], kind: str,
                       cfg: Mapping) -> Pipeline:
    """``features -> select -> model`` pipeline of one block (or of several: early fusion)."""
    prep_cfg = cfg.get("preprocessing") or {}
    models_cfg = cfg.get("models") or {}
    seed = model_seed(cfg)
    inner = int(models_cfg.get("inner_folds", 5))
    selectors = [
        (name, block_selector(
            name, kind, models_cfg.get("selection") or {},
            l1_ratio=float(models_cfg.get("l1_ratio", 0.5)), folds=inner,
            n_alphas=int(models_cfg.get("n_alphas", 30)),
            alpha_min_ratio=float(models_cfg.get("alpha_min_ratio", 0.05)), seed=seed))
        for name in block_columns
    ]
    return Pipeline([
        ("features", feature_transformer(block_columns, prep_cfg, kind)),
        ("select", BlockSelector(selectors)),
        ("model", LearnerSearch(candidates(kind, models_cfg, seed), kind=kind, cv=inner,
                                random_state=seed)),
    ])


def composite_pipeline(block_columns: Mapping[str, Sequence[str]], kind: str,
                       cfg: Mapping) -> Pipeline:
    """``features -> select (block by block) -> composite score -> ensemble`` (GTR-ITH)."""
    ccfg = (cfg.get("models") or {}).get("composite") or {}
    base = component_pipeline(block_columns, kind, cfg)
    return Pipeline([
        ("features", base.named_steps["features"]),
        ("select", base.named_steps["select"]),
        ("composite", CompositeScore(int(ccfg.get("n_components", 1)))),
        ("model", composite_ensemble(kind, model_seed(cfg),
                                     ccfg.get("learners", ENSEMBLE_LEARNERS))),
    ])


def comparator_components(comparators: Sequence[Mapping], columns: Callable[[str], list[str]],
                          kind: str, cfg: Mapping) -> dict[str, object]:
    """Unfitted named comparators: ``{"name", "blocks": [...]}`` is a model of those blocks
    (early concatenation if several), ``{"name", "column", "order"}`` an existing score
    (:class:`ScoreModel`); ``columns(block)`` gives a block's columns."""
    out = {}
    for spec in comparators:
        name = spec["name"]
        if "blocks" in spec:
            out[name] = component_pipeline({b: columns(b) for b in spec["blocks"]}, kind, cfg)
        else:
            out[name] = ScoreModel(spec["column"], kind=kind, order=spec.get("order"))
    return out


def group_name(blocks: Sequence[str]) -> str:
    """Component name of blocks fused early inside a late fusion (``early_deep_radiomics``)."""
    return "early_" + "_".join(blocks)


def build_components(
    block_columns: Mapping[str, Sequence[str]], kind: str, cfg: Mapping, *,
    fusion: str = "late", early_groups: Sequence[Sequence[str]] = (),
) -> dict[str, object]:
    """Unfitted components of a recipe for blocks ``{name: columns}`` (``fusion``: ``late``,
    seed 001's stacking / model averaging, or ``composite``, seed 002's PCA score).

    ``early_groups`` (late fusion only): groups of blocks that enter the late fusion as one
    early-fusion model (component :func:`group_name`) instead of one score per block - CRM's
    ``fuse_like`` when the referenced recipe's early fusion did better (seeds 003/004)."""
    models_cfg = cfg.get("models") or {}
    seed = model_seed(cfg)
    comps: dict = {name: component_pipeline({name: cols}, kind, cfg)
                   for name, cols in block_columns.items()}
    grouped = [b for group in early_groups for b in group]
    if early_groups and (fusion != "late" or len(set(grouped)) != len(grouped)
                         or not set(grouped) < set(block_columns)):
        raise ValueError(f"early groups {list(map(list, early_groups))} must be disjoint proper "
                         f"subsets of the blocks {list(block_columns)} of a late fusion")
    for group in early_groups:
        comps[group_name(group)] = component_pipeline({b: block_columns[b] for b in group},
                                                      kind, cfg)
    if fusion == "composite":
        if len(block_columns) > 1:
            comps["early_fusion"] = component_pipeline(block_columns, kind, cfg)
        comps["fusion"] = composite_pipeline(block_columns, kind, cfg)
    elif fusion != "late":
        raise ValueError(f"recipe fusion must be 'late' or 'composite', got {fusion!r}")
    elif len(block_columns) > 1:
        comps["early_fusion"] = component_pipeline(block_columns, kind, cfg)
        bases = [(group_name(g), comps[group_name(g)]) for g in early_groups] + [
            (name, comps[name]) for name in block_columns if name not in grouped]
        folds = int(cfg.get("cv_folds", 5))
        nonneg = bool(models_cfg.get("fusion_nonnegative", True))
        fold_search = str(models_cfg.get("fusion_fold_search", "frozen"))
        if kind == "binary":
            comps["fusion"] = LateFusionClassifier(
                bases, cv=folds, random_state=seed, nonnegative=nonneg, fold_search=fold_search)
        elif models_cfg.get("survival_fusion", "bma") == "bma":
            comps["fusion"] = BayesianModelAveraging(
                bases, cv=folds, random_state=seed, fold_search=fold_search, nonnegative=nonneg)
        else:
            comps["fusion"] = LateFusionCox(
                bases, alpha=float(models_cfg.get("fusion_ridge", 0.01)), cv=folds,
                random_state=seed, nonnegative=nonneg, fold_search=fold_search,
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
    if "fusion" in templates and hasattr(templates["fusion"], "estimators"):
        fitted["fusion"] = clone(templates["fusion"]).fit(X, y)
        fitted.update(dict(fitted["fusion"].estimators_))
    for name, template in templates.items():
        if name not in fitted:
            fitted[name] = clone(template).fit(X, y)
    return {name: fitted[name] for name in templates}


def _search(estimator) -> LearnerSearch | None:
    if isinstance(estimator, Pipeline) and isinstance(estimator[-1], LearnerSearch):
        return estimator[-1]
    return None


@dataclass
class FittedRecipe:
    """Components fitted on the training cohort, plus their honest out-of-fold training scores.

    ``train_cv[component]`` is aligned with ``train_index``; ``y_train`` is the outcome the models
    were fitted on (permuted when ``permuted``); ``dropped`` are training patients without an
    outcome for this endpoint. Survival endpoints also carry ``train_cv_survival[component]``,
    the out-of-fold survival probabilities ``(n_train, len(train_cv_times))`` at the training
    event times ``train_cv_times`` (every fold model's survival function only jumps at those,
    so this is the whole out-of-fold step function; NaN past a fold model's follow-up).
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
    train_cv_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    train_cv_survival: dict[str, np.ndarray] = field(default_factory=dict)
    #: Input columns of the components that do not read the recipe's blocks (comparators):
    #: ``{component: {block: columns}}``.
    component_inputs: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Score every patient (row) of ``frame`` with every component."""
        return {name: _score(est, frame, self.kind) for name, est in self.components.items()}

    def predict_survival(self, frame: pd.DataFrame, times) -> dict[str, np.ndarray]:
        """Survival probabilities ``{component: (n_patients, len(times))}`` (survival endpoints).

        Each component's own survival function (Coxnet, gradient boosting: Breslow baseline of
        the fitted Cox model; random survival forest: ensemble survival; FastSurvivalSVM: Cox
        recalibration of its score with a Breslow baseline; ``fusion``: the Bayesian-model-
        averaging mixture). 1 before the first event, NaN past the training follow-up.
        """
        if self.kind != "survival":
            raise ValueError("predict_survival needs a survival endpoint; this recipe is "
                             f"{self.kind}")
        return {name: survival_at(est, frame, times) for name, est in self.components.items()}

    def train_cv_survival_at(self, times) -> dict[str, np.ndarray]:
        """Out-of-fold survival probabilities of the training patients at ``times`` (1 before
        the first training event, NaN past the training follow-up)."""
        times = np.atleast_1d(np.asarray(times, dtype=float))
        idx = np.searchsorted(self.train_cv_times, times, side="right") - 1
        names = self.y_train.dtype.names
        follow_up = float(self.y_train[names[1]].max()) if names and len(self.y_train) else np.inf
        out = {}
        for name, surv in self.train_cv_survival.items():
            vals = surv[:, np.clip(idx, 0, None)] if surv.shape[1] else np.ones((len(surv),
                                                                                len(times)))
            vals = np.where(idx[None, :] >= 0, vals, 1.0)
            out[name] = np.where(times[None, :] > follow_up, np.nan, vals)
        return out

    @property
    def algorithm_scores(self) -> pd.DataFrame:
        """Inner-CV comparison of the candidate learners (seed 001's "algorithm comparison").

        One row per component with a learner search (``clinical``, ``radiomics``,
        ``early_fusion``) and learner: ``block, learner, metric`` (``auc`` or ``cindex``),
        ``mean, sd`` (over the inner folds, for that learner's best grid point), ``params``
        (JSON), ``chosen``. The scores come from the final fit on all training patients; the
        features were selected on the same patients, so they rank learners and are not a
        performance estimate (that is ``train_cv``).
        """
        frames = []
        for name, est in self.components.items():
            search = _search(est)
            if search is not None and hasattr(search, "results_"):
                frames.append(search.learner_scores_.assign(block=name))
        cols = ["block", "learner", "metric", "mean", "sd", "params", "chosen"]
        if not frames:
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True)[cols]

    @property
    def selected_features(self) -> dict[str, list[str]]:
        """Features kept by the selection of each pipeline component (preprocessed names,
        ``<block>__<feature>``; one-hot columns of categorical variables are
        ``<block>__<variable>_<level>``)."""
        out = {}
        for name, est in self.components.items():
            if isinstance(est, Pipeline) and isinstance(est.named_steps.get("select"),
                                                        BlockSelector):
                out[name] = list(est.named_steps["select"].columns_)
        return out

    @property
    def fusion_weights(self) -> dict[str, float]:
        """Late-fusion weight of each block: meta-classifier coefficient (binary), posterior
        model probability (Bayesian model averaging) or meta-Cox coefficient; for a composite
        score, each block's share of the squared loadings of its first component."""
        fusion = self.components.get("fusion")
        if fusion is None:
            return {}
        if isinstance(fusion, Pipeline) and "composite" in fusion.named_steps:
            cols = fusion.named_steps["select"].columns_
            share = fusion.named_steps["composite"].loadings_[:, 0] ** 2
            blocks = pd.Series(share, index=[str(c).partition("__")[0] for c in cols])
            return (blocks.groupby(level=0, sort=False).sum() / share.sum()).to_dict()
        return dict(fusion.weights_)


def _check_enough_outcomes(target: Target, endpoint_cfg: Mapping, cfg: Mapping) -> None:
    """Both outcome classes (binary) or events (survival) in the training patients, at least as
    many as the folds of the cross-validation; else an error naming the column and patients."""
    folds = max(int(cfg.get("cv_folds", 5)), int((cfg.get("models") or {}).get("inner_folds", 5)))
    col = endpoint_cfg["event"]
    ids = np.asarray(target.index)
    n = len(ids)
    if endpoint_cfg["type"] == "binary":
        classes, counts = np.unique(target.y, return_counts=True)
        if len(classes) < 2:
            raise ValueError(
                f"outcome column '{col}': all {n} training patients have the value {classes[0]}; "
                "a model needs both classes")
        k = int(np.argmin(counts))
        if counts[k] < folds:
            who = name_list(ids[np.asarray(target.y) == classes[k]])
            raise ValueError(
                f"outcome column '{col}': only {counts[k]} of {n} training patients have the "
                f"value {classes[k]} ({who}); the {folds}-fold cross-validation (cv_folds, "
                "models.inner_folds) needs at least one per fold")
    else:
        event = np.asarray(target.y[target.y.dtype.names[0]], dtype=bool)
        if event.sum() < folds:
            who = name_list(ids[event]) if event.any() else "none"
            raise ValueError(
                f"outcome column '{col}': only {int(event.sum())} events among {n} training "
                f"patients (events: {who}); the {folds}-fold cross-validation (cv_folds, "
                "models.inner_folds) needs at least one per fold")


def training_data(cohort: Cohort, endpoint_cfg: Mapping, cfg: Mapping):
    """``(X, y, target, permuted)``: the training patients with an outcome for the endpoint and
    the outcome the models are fitted on, permuted under ``audit.permute_training_outcomes``
    (the negative control: the feature-outcome link is broken before anything is fitted)."""
    train = cohort.rows("train")
    target: Target = endpoint_target(train, endpoint_cfg)
    X, y = train.loc[target.index], target.y
    _check_enough_outcomes(target, endpoint_cfg, cfg)
    audit = cfg.get("audit") or {}
    permuted = bool(audit.get("permute_training_outcomes", False))
    if permuted:
        rng = np.random.default_rng(int(audit.get("seed", model_seed(cfg))))
        y = y[rng.permutation(len(y))]
        log.warning("audit: training outcomes permuted (negative control)")
    return X, y, target, permuted


def fit_recipe(
    cohort: Cohort,
    endpoint_cfg: Mapping,
    blocks: Sequence[str],
    cfg: Mapping,
    *,
    oof: bool = True,
    fusion: str = "late",
    comparators: Sequence[Mapping] = (),
    early_groups: Sequence[Sequence[str]] = (),
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
        the ``models`` section, see config/README.md).
    oof
        Compute the nested out-of-fold ``train_cv`` scores (the expensive part).
    fusion
        ``late`` or ``composite`` (see :func:`build_components`).
    comparators
        Named comparators (see :func:`comparator_components`); fitted and cross-validated like
        the other components, never fused.
    early_groups
        Groups of blocks fused early inside the late fusion (see :func:`build_components`).
    """
    kind = endpoint_cfg["type"]
    exclude = list((cfg.get("clinical") or {}).get("exclude", []))
    block_columns = {b: cohort.block_columns(b, exclude) for b in blocks}
    X, y, target, permuted = training_data(cohort, endpoint_cfg, cfg)
    seed = model_seed(cfg)
    templates = build_components(block_columns, kind, cfg, fusion=fusion,
                                 early_groups=early_groups)
    extra = comparator_components(comparators, lambda b: cohort.block_columns(b, exclude), kind,
                                  cfg)
    clash = sorted(set(extra) & set(templates))
    if clash:
        raise ValueError(f"comparator name(s) {clash} clash with the recipe's components "
                         f"{sorted(templates)}")
    templates.update(extra)
    inputs = {group_name(g): {b: block_columns[b] for b in g} for g in early_groups}
    for spec in comparators:
        if "blocks" in spec:
            inputs[spec["name"]] = {b: cohort.block_columns(b, exclude) for b in spec["blocks"]}
        else:
            block = "clinical" if spec["column"] in cohort.clinical_columns else next(
                (b for b, cols in cohort.extra_blocks.items() if spec["column"] in cols),
                "radiomics")
            inputs[spec["name"]] = {block: [spec["column"]]}
    folds = int(cfg.get("cv_folds", 5))
    threads = int((cfg.get("models") or {}).get("blas_threads", 1))

    train_cv: dict[str, np.ndarray] = {}
    cv_surv: dict[str, np.ndarray] = {}
    times = np.empty(0)
    if kind == "survival":
        times = np.unique(y[y.dtype.names[1]][y[y.dtype.names[0]].astype(bool)])
    # Thousands of tiny solver calls: multi-threaded BLAS only adds synchronisation cost here
    # (measured 5x slower on 2 cores); parallelism belongs to the workflow's jobs.
    with threadpool_limits(limits=threads):
        if oof:
            for name in templates:
                train_cv[name] = np.full(len(y), np.nan)
                if kind == "survival":
                    cv_surv[name] = np.full((len(y), len(times)), np.nan)
            for tr, te in _outer_splits(y, kind, folds, seed):
                fold_fit = _fit_components(templates, X.iloc[tr], y[tr])
                for name, est in fold_fit.items():
                    train_cv[name][te] = _score(est, X.iloc[te], kind)
                    if kind == "survival":
                        cv_surv[name][te] = survival_at(est, X.iloc[te], times)
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
        train_cv_times=times,
        train_cv_survival=cv_surv,
        component_inputs=inputs,
    )
