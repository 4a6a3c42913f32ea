"""A recipe run for one endpoint: assemble the cohort, fit on training, validate, tabulate.

This is the cohort-level step of the workflow (rule ``fit_recipe``); it joins the building blocks
(:mod:`hccfusion.cohort`, :mod:`hccfusion.models`, :mod:`hccfusion.evaluate`) in the order the
seed papers use them, so that the rule's script stays a few lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hccfusion.cohort import Cohort, assemble
from hccfusion.evaluate import COLUMNS, cohort_predictions, performance_rows
from hccfusion.models import FittedRecipe, fit_recipe
from hccfusion.timeunits import from_months

log = logging.getLogger(__name__)


@dataclass
class RecipeDetails:
    """What a recipe run produces besides performance rows and risk scores.

    Every table starts with ``recipe, endpoint``:

    - ``algorithm_scores``: inner-CV comparison of the candidate learners per block (seed 001's
      algorithm comparison figure): ``block, learner, metric, mean, sd, params, chosen``
      (:attr:`hccfusion.models.FittedRecipe.algorithm_scores`);
    - ``selected_features``: ``component, block, feature, rank``, the features each component's
      selection kept on all training patients (``feature`` without the block prefix; one-hot
      columns are ``<variable>_<level>``);
    - ``fusion_weights``: ``block, weight, method`` of the late fusion (``stacking``: logistic
      meta-classifier coefficient on centred logits; ``bma``: posterior model probability;
      ``cox``: meta-Cox coefficient);
    - ``survival`` (survival endpoints; empty for binary ones): ``patient_id, cohort,
      component, time, horizon_months, survival`` - survival probabilities of every component at
      the configured horizons (``evaluation.horizons_months``, ``horizon_months`` set) and at
      every training event time (``horizon_months`` empty; the whole step function, for
      integrated Brier scores). ``train_cv`` rows are out of fold. NaN past a model's training
      follow-up.

    ``fitted`` is the :class:`~hccfusion.models.FittedRecipe` itself and ``training`` the rows
    of the assembled cohort it was fitted on (for frozen cut-offs and the training-data hash);
    ``cohort`` is the whole assembled cohort.
    """

    fitted: FittedRecipe
    algorithm_scores: pd.DataFrame
    selected_features: pd.DataFrame
    fusion_weights: pd.DataFrame
    survival: pd.DataFrame
    training: pd.DataFrame
    cohort: Cohort | None = None


def model_config(cfg: Mapping) -> dict:
    """The modelling view of the workflow config (the clinical block's exclusions)."""
    exclude = list(cfg["clinical_features"]["exclude"])
    for ep in cfg["endpoints"].values():
        exclude += [ep["event"]] + ([ep["time"]] if "time" in ep else [])
    return {**cfg, "clinical": {"exclude": sorted(set(exclude))}}


#: Feature tables besides radiomics that recipes can use as blocks (block name -> workflow path).
EXTRA_TABLES = {"habitats": "results/features/habitats.tsv", "deep": "results/features/deep.tsv"}


def recipe_blocks(recipe_cfg: Mapping) -> list[str]:
    """Every block a recipe reads: its fused blocks and its comparators' blocks."""
    blocks = list(recipe_cfg["blocks"])
    for spec in recipe_cfg.get("comparators") or []:
        blocks += [b for b in spec.get("blocks", []) if b not in blocks]
    return blocks


def read_inputs(clinical: str, features: str, split: str, robustness=(), extra=None):
    """The tables of rule ``fit_recipe`` (and ``explain``) from their paths: ``(clinical,
    radiomics, split, robust, extra)``; ``robust`` lists the features the robustness report
    keeps, or is None when there is no report (``robustness`` empty: filter off or own feature
    table); ``extra`` maps block names to the paths of extra feature tables (:data:`EXTRA_TABLES`)
    and comes back as tables."""
    from hccfusion.sheets import load_clinical

    robust = None
    if robustness:
        report = pd.read_csv(list(robustness)[0], sep="\t")
        robust = list(report.feature[report.kept])
    tables = {name: pd.read_csv(path, sep="\t") for name, path in dict(extra or {}).items()}
    return (load_clinical(clinical).reset_index(drop=True), pd.read_csv(features, sep="\t"),
            pd.read_csv(split, sep="\t"), robust, tables)


CHOICE_COLUMNS = ["recipe", "endpoint", "reference", "component", "metric", "estimate",
                  "ci_lower", "ci_upper", "n", "chosen"]


def fusion_choice(recipe: str, endpoint: str, cfg: Mapping, reference_predictions: pd.DataFrame,
                  clinical: pd.DataFrame) -> tuple[list[list[str]], pd.DataFrame]:
    """The recipe's ``fuse_like``: how the referenced recipe's blocks enter this late fusion.

    Seeds 003/004 compare early and late fusion of DL and radiomics and build the CRM on the
    better one. The referenced recipe's ``train_cv`` scores of ``fusion`` (late) and
    ``early_fusion`` - out of fold, training patients only, so validation patients play no part
    in the choice - are scored by the endpoint's metric (AUC, Harrell's C). Late fusion keeps its
    blocks as separate scores of this recipe's late fusion (``[]``); early fusion wins only when
    strictly better, and the blocks then enter as one early-fusion model (``[[blocks]]``). Returns
    the groups and a table of both figures (:data:`CHOICE_COLUMNS`).
    """
    from hccfusion.cohort import endpoint_target
    from hccfusion.metrics import auc_ci, cindex_ci

    reference = cfg["recipes"][recipe]["fuse_like"]
    endpoint_cfg = cfg["endpoints"][endpoint]
    clin = clinical.set_index("patient_id")
    cv = reference_predictions[(reference_predictions.cohort == "train_cv")
                               & (reference_predictions.endpoint == endpoint)]
    rows = []
    for component in ("fusion", "early_fusion"):
        part = cv[cv.component == component].dropna(subset=["score"]).set_index("patient_id")
        if part.empty:
            raise ValueError(f"recipe {recipe} ({endpoint}): fuse_like {reference} has no train_cv "
                             f"scores of component {component}")
        target = endpoint_target(clin.loc[part.index], endpoint_cfg)
        score = part.score.loc[target.index].to_numpy()
        if endpoint_cfg["type"] == "binary":
            metric, (est, lo, hi) = "auc", auc_ci(target.y, score)
        else:
            t, e = target.y.dtype.names[1], target.y.dtype.names[0]
            metric, (est, lo, hi) = "cindex", cindex_ci(
                target.y[t], target.y[e], score, n_boot=cfg["bootstrap"]["n"],
                seed=cfg["bootstrap"]["seed"])
        rows.append({"recipe": recipe, "endpoint": endpoint, "reference": reference,
                     "component": component, "metric": metric, "estimate": est,
                     "ci_lower": lo, "ci_upper": hi, "n": len(score)})
    table = pd.DataFrame(rows, columns=CHOICE_COLUMNS)
    early = bool(table.estimate.iloc[1] > table.estimate.iloc[0])
    table["chosen"] = [not early, early]
    groups = [list(cfg["recipes"][reference]["blocks"])] if early else []
    log.info("%s %s: %s's blocks enter as its %s fusion (train_cv %s: late %.3f, early %.3f)",
             recipe, endpoint, reference, "early" if early else "late", table.metric.iloc[0],
             *table.estimate)
    return groups, table


def comparator_specs(recipe_cfg: Mapping, clinical: pd.DataFrame):
    """The recipe's comparators for :func:`hccfusion.models.fit_recipe`, and the table of the
    existing clinical scores they need (``None`` if none): ``{"name", "score"}`` becomes
    ``{"name", "column": "score_<score>"}`` with that column computed by
    :mod:`hccfusion.clinical_scores` from the clinical table. A patient missing an input of a
    score gets the training median with a warning naming the patients (``on_missing: impute``,
    the default), or the run stops with an error naming patients and columns (``error``)."""
    specs, wanted, strict = [], [], []
    for spec in recipe_cfg.get("comparators") or []:
        spec = dict(spec)
        if "score" in spec:
            wanted.append(spec["score"])
            if spec.pop("on_missing", "impute") == "error":
                strict.append(spec["score"])
            spec["column"] = f"score_{spec.pop('score')}"
        specs.append(spec)
    if not wanted:
        return specs, None
    from hccfusion.clinical_scores import compute_scores

    scores, excluded = compute_scores(clinical, sorted(set(wanted)), on_missing="exclude")
    stop = excluded[excluded.score.isin(strict)]
    if len(stop):  # on_missing: error
        from hccfusion.errors import TableError, name_list
        raise TableError("; ".join(
            f"clinical score {score} (on_missing: error): {reason} for patient(s) "
            f"{name_list(list(part.patient_id))}"
            for (score, reason), part in stop.groupby(["score", "reason"])))
    for (score, reason), part in excluded.groupby(["score", "reason"]):
        log.warning("clinical score %s not computable (%s) for %d patient(s): %s; the training "
                    "median stands in", score, reason, len(part), ", ".join(map(str,
                                                                              part.patient_id)))
    table = scores[sorted(set(wanted))].add_prefix("score_").reset_index()
    return specs, table.rename(columns={table.columns[0]: "patient_id"})


def recipe_cohort(clinical: pd.DataFrame, radiomics: pd.DataFrame, split: pd.DataFrame,
                  robust: list[str] | None = None, extra: Mapping[str, pd.DataFrame] | None = None):
    """The assembled cohort of the patients in ``split``, radiomics restricted to ``robust``,
    with the extra feature tables ``{block: table}`` (habitats, deep-learning features, scores)."""
    ids = set(split.patient_id)
    clinical = clinical[clinical.patient_id.isin(ids)].reset_index(drop=True)
    radiomics = radiomics[radiomics.patient_id.isin(ids)]
    if robust is not None:
        keep = [c for c in radiomics.columns if c in set(robust)]
        log.info("robustness filter keeps %d of %d radiomics features",
                 len(keep), radiomics.shape[1] - 1)
        radiomics = radiomics[["patient_id", *keep]]
    extra = {name: table[table.patient_id.isin(ids)] for name, table in (extra or {}).items()}
    return assemble(clinical, radiomics, split, extra=extra)


def run_recipe(
    recipe: str,
    endpoint: str,
    cfg: Mapping,
    clinical: pd.DataFrame,
    radiomics: pd.DataFrame,
    split: pd.DataFrame,
    robust: list[str] | None = None,
    extra: Mapping[str, pd.DataFrame] | None = None,
    *,
    with_details: bool = False,
    performance: bool = True,
    early_groups=(),
):
    """Fit ``recipe`` for ``endpoint`` and return (performance rows, per-patient predictions).

    Only patients in ``split`` take part (excluded patients are already gone from it). Nothing is
    fitted on internal or external patients: :func:`hccfusion.models.fit_recipe` sees the training
    rows only, and ``train_cv`` scores are out-of-fold. ``robust`` lists the radiomics features
    that passed the robustness (ICC) filter, itself computed on training patients only.
    ``extra`` holds the extra feature tables the recipe's blocks name (:data:`EXTRA_TABLES`).
    The recipe's ``fusion`` (``late`` or ``composite``) and ``comparators`` come from
    ``cfg["recipes"][recipe]``.

    With ``with_details=True`` the return value is ``(performance, predictions, details)``,
    ``details`` a :class:`RecipeDetails` (algorithm comparison, selected features, fusion
    weights, survival probabilities, the fitted recipe). ``performance=False`` skips the
    performance rows (an empty table with their columns; the bootstrap CIs of the C-indices take
    about 20 s per survival endpoint) for callers that tabulate performance elsewhere.
    ``early_groups``: blocks fused early inside the late fusion (:func:`fusion_choice`).
    """
    endpoint_cfg = cfg["endpoints"][endpoint]
    recipe_cfg = cfg["recipes"][recipe]
    comparators, scores = comparator_specs(recipe_cfg, clinical)
    extra = dict(extra or {})
    if scores is not None:
        extra["scores"] = scores
    cohort = recipe_cohort(clinical, radiomics, split, robust, extra)
    mcfg = model_config(cfg)
    fitted = fit_recipe(cohort, endpoint_cfg, recipe_cfg["blocks"], mcfg,
                        fusion=recipe_cfg.get("fusion", "late"), comparators=comparators,
                        early_groups=early_groups)
    if len(fitted.dropped):
        log.warning("%d training patients without %s outcome left out", len(fitted.dropped), endpoint)
    preds, targets, index = cohort_predictions(fitted, cohort, endpoint_cfg, with_index=True)
    if performance:
        perf = performance_rows(
            recipe, endpoint, endpoint_cfg, preds, targets,
            n_boot=cfg["bootstrap"]["n"], seed=cfg["bootstrap"]["seed"],
        )
    else:
        perf = pd.DataFrame(columns=COLUMNS)
    rows = [
        pd.DataFrame({"patient_id": np.asarray(index[name]), "cohort": name,
                      "component": component, "score": np.asarray(score, dtype=float)})
        for name, by_component in preds.items()
        for component, score in by_component.items()
    ]
    predictions = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    predictions.insert(0, "endpoint", endpoint)
    predictions.insert(0, "recipe", recipe)
    if not with_details:
        return perf, predictions
    details = recipe_details(recipe, endpoint, fitted, cohort, index, cfg)
    return perf, predictions, details


def _head(frame: pd.DataFrame, recipe: str, endpoint: str) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(0, "endpoint", endpoint)
    frame.insert(0, "recipe", recipe)
    return frame


def survival_times(fitted: FittedRecipe, cfg: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """``(times, horizon_months)``: the configured horizons in the time unit of the outcome
    (``evaluation.horizons_months``, ``evaluation.time_unit``) followed by the training event
    times (``horizon_months`` NaN for those)."""
    ev = cfg.get("evaluation") or {}
    months = np.asarray(ev.get("horizons_months", (6, 12, 24, 36)), dtype=float)
    events = np.asarray(fitted.train_cv_times, dtype=float)
    times = np.concatenate([from_months(months, ev.get("time_unit", "days")), events])
    return times, np.concatenate([months, np.full(len(events), np.nan)])


def recipe_details(recipe: str, endpoint: str, fitted: FittedRecipe, cohort,
                   index: Mapping[str, pd.Index], cfg: Mapping) -> RecipeDetails:
    """The :class:`RecipeDetails` of a fitted recipe; ``index`` maps each cohort (``train_cv``,
    ``internal``, ``external``) to the patients scored (as from
    :func:`hccfusion.evaluate.cohort_predictions`)."""
    scores = _head(fitted.algorithm_scores, recipe, endpoint)
    sel_rows = []
    for component, cols in fitted.selected_features.items():
        for rank, col in enumerate(cols, start=1):
            block, _, feature = str(col).partition("__")
            sel_rows.append({"component": component, "block": block, "feature": feature,
                             "rank": rank})
    selected = _head(pd.DataFrame(sel_rows, columns=["component", "block", "feature", "rank"]),
                     recipe, endpoint)
    fusion = fitted.components.get("fusion")
    method = {"LateFusionClassifier": "stacking", "BayesianModelAveraging": "bma",
              "LateFusionCox": "cox"}.get(type(fusion).__name__, "")
    weights = _head(pd.DataFrame(
        [{"block": b, "weight": w, "method": method} for b, w in fitted.fusion_weights.items()],
        columns=["block", "weight", "method"]), recipe, endpoint)
    cols = ["patient_id", "cohort", "component", "time", "horizon_months", "survival"]
    parts = []
    if fitted.kind == "survival":
        times, months = survival_times(fitted, cfg)
        for name, ids in index.items():
            if name == "train_cv":
                by_comp = fitted.train_cv_survival_at(times)
            else:
                by_comp = fitted.predict_survival(cohort.data.loc[ids], times)
            for component, surv in by_comp.items():
                n = len(ids)
                parts.append(pd.DataFrame({
                    "patient_id": np.repeat(np.asarray(ids), len(times)), "cohort": name,
                    "component": component, "time": np.tile(times, n),
                    "horizon_months": np.tile(months, n), "survival": surv.ravel(),
                }))
    survival = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    return RecipeDetails(fitted=fitted, algorithm_scores=scores, selected_features=selected,
                         fusion_weights=weights, survival=_head(survival, recipe, endpoint),
                         training=cohort.data.loc[fitted.train_index], cohort=cohort)
