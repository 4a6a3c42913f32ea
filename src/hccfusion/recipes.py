"""A recipe run for one endpoint: assemble the cohort, fit on training, validate, tabulate.

This is the cohort-level step of the workflow (rule ``fit_recipe``); it joins the building blocks
(:mod:`hccfusion.cohort`, :mod:`hccfusion.models`, :mod:`hccfusion.evaluate`) in the order the
seed papers use them, so that the rule's script stays a few lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from hccfusion.cohort import assemble
from hccfusion.evaluate import cohort_predictions, performance_rows
from hccfusion.models import fit_recipe

log = logging.getLogger(__name__)


def model_config(cfg: Mapping) -> dict:
    """The modelling view of the workflow config (the clinical block's exclusions)."""
    exclude = list(cfg["clinical_features"]["exclude"])
    for ep in cfg["endpoints"].values():
        exclude += [ep["event"]] + ([ep["time"]] if "time" in ep else [])
    return {**cfg, "clinical": {"exclude": sorted(set(exclude))}}


def run_recipe(
    recipe: str,
    endpoint: str,
    cfg: Mapping,
    clinical: pd.DataFrame,
    radiomics: pd.DataFrame,
    split: pd.DataFrame,
    robust: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit ``recipe`` for ``endpoint`` and return (performance rows, per-patient predictions).

    Only patients in ``split`` take part (excluded patients are already gone from it). Nothing is
    fitted on internal or external patients: :func:`hccfusion.models.fit_recipe` sees the training
    rows only, and ``train_cv`` scores are out-of-fold. ``robust`` lists the radiomics features
    that passed the robustness (ICC) filter, itself computed on training patients only.
    """
    endpoint_cfg = cfg["endpoints"][endpoint]
    blocks = cfg["recipes"][recipe]["blocks"]
    clinical = clinical[clinical.patient_id.isin(split.patient_id)].reset_index(drop=True)
    radiomics = radiomics[radiomics.patient_id.isin(split.patient_id)]
    if robust is not None:
        keep = [c for c in radiomics.columns if c in set(robust)]
        log.info("robustness filter keeps %d of %d radiomics features",
                 len(keep), radiomics.shape[1] - 1)
        radiomics = radiomics[["patient_id", *keep]]
    cohort = assemble(clinical, radiomics, split)
    mcfg = model_config(cfg)
    fitted = fit_recipe(cohort, endpoint_cfg, blocks, mcfg)
    if len(fitted.dropped):
        log.warning("%d training patients without %s outcome left out", len(fitted.dropped), endpoint)
    preds, targets, index = cohort_predictions(fitted, cohort, endpoint_cfg, with_index=True)
    perf = performance_rows(
        recipe, endpoint, endpoint_cfg, preds, targets,
        n_boot=cfg["bootstrap"]["n"], seed=cfg["bootstrap"]["seed"],
    )
    rows = [
        pd.DataFrame({"patient_id": np.asarray(index[name]), "cohort": name,
                      "component": component, "score": np.asarray(score, dtype=float)})
        for name, by_component in preds.items()
        for component, score in by_component.items()
    ]
    predictions = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    predictions.insert(0, "endpoint", endpoint)
    predictions.insert(0, "recipe", recipe)
    return perf, predictions

