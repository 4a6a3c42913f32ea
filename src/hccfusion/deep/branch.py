"""The deep-learning branch as the workflow runs it (rules ``deep_crop``, ``deep_train``,
``deep_explain``): crops on disk, an ensemble trained on the split's training patients, the
per-patient feature table of block ``deep``, and the correlation of DL scores with radiomics.

The feature table holds, per patient of the split, ``deep_risk_<endpoint>`` (survival heads, log
relative hazard) and ``deep_logit_<endpoint>`` (binary heads, log-odds of the event) - training
patients' values out of fold (cross-fitted), every other patient's from the ensemble fitted on all
training patients - and optionally the embeddings (``deep_emb_<j>``). A patient whose crop was
excluded (``on_patient_error: exclude``) leaves the whole cohort: rule ``merge_radiomics`` lists it in
``results/qc/excluded.tsv`` before the split, so every recipe of the run sees the same patients.
Should a split patient still lack a crop, it keeps a row of NaN (imputed downstream by the training
median of the block's preprocessing) and is listed in ``results/deep/excluded.tsv``.

Caveat (cross-fitting): a training patient's DL score comes from networks that never saw that
patient, but the recipe's own outer folds differ from the deep folds, so networks behind other
patients' scores may have seen a held-out patient's outcome; the recipe's ``train_cv`` estimates
carry this second-order optimism, the internal and external estimates do not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from hccfusion.deep.crops import load_crop
from hccfusion.errors import name_list

log = logging.getLogger(__name__)

EXCLUDED_COLUMNS = ["patient_id", "reason"]


def read_crops(crop_paths: Sequence[str], status_paths: Sequence[str], patients: Sequence[str]
               ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The crops of ``patients`` (``{patient: array}``) and the excluded ones with their reason;
    file names are ``<patient>.npz`` / ``<patient>.json`` as rule ``deep_crop`` writes them."""
    wanted = set(map(str, patients))
    crops, gone = {}, []
    for crop_path, status_path in zip(sorted(crop_paths), sorted(status_paths), strict=True):
        patient = Path(crop_path).stem
        if patient not in wanted:
            continue
        status = json.loads(Path(status_path).read_text())
        if status.get("status") != "ok":
            gone.append({"patient_id": patient, "reason": status.get("reason", "excluded")})
            continue
        crops[patient], _ = load_crop(crop_path)
    missing = sorted(wanted - set(crops) - {g["patient_id"] for g in gone})
    if missing:
        raise ValueError(f"no crop file for split patients {name_list(missing)}")
    return crops, pd.DataFrame(gone, columns=EXCLUDED_COLUMNS)


def feature_table(predictions: pd.DataFrame, patients: Sequence[str], *,
                  embeddings: bool = False) -> pd.DataFrame:
    """Block ``deep`` of the recipes from :attr:`EnsembleResult.predictions`: one row per patient
    of ``patients`` (NaN for a patient without a prediction)."""
    pred = predictions.set_index("patient_id")
    cols = {}
    for col in pred.columns:
        if col.startswith("risk_"):
            cols[col] = f"deep_{col}"
        elif col.startswith("prob_"):
            # The logit, not the probability: linear in the network's output, like the risks.
            p = pred[col].clip(1e-6, 1 - 1e-6)
            pred[col] = np.log(p / (1 - p))
            cols[col] = "deep_logit_" + col[len("prob_"):]
        elif embeddings and col.startswith("emb_"):
            cols[col] = f"deep_{col}"
    table = pred[list(cols)].rename(columns=cols).reindex(pd.Index(patients, name="patient_id"))
    return table.reset_index()


def radiomics_correlation(deep: pd.DataFrame, radiomics: pd.DataFrame, patients: Sequence[str],
                          *, top: int = 20) -> pd.DataFrame:
    """Spearman correlation of each DL score with each radiomics feature among ``patients``
    (the training patients), Benjamini-Hochberg over all pairs; the ``top`` strongest per score.
    Columns ``deep_feature, radiomics_feature, rho, p, padj, n``."""
    from scipy.stats import false_discovery_control

    d = deep.set_index("patient_id").loc[list(patients)]
    r = radiomics.set_index("patient_id").reindex(d.index)
    r = r.loc[:, r.notna().mean() > 0.7]
    r = r.loc[:, r.nunique() > 2]
    rows = []
    for dcol in [c for c in d.columns if not c.startswith("deep_emb_")]:
        x = d[dcol]
        for rcol in r.columns:
            ok = x.notna() & r[rcol].notna()
            if ok.sum() < 5:
                continue
            rho, p = stats.spearmanr(x[ok], r.loc[ok, rcol])
            rows.append({"deep_feature": dcol, "radiomics_feature": rcol, "rho": float(rho),
                         "p": float(p), "n": int(ok.sum())})
    cols = ["deep_feature", "radiomics_feature", "rho", "p", "padj", "n"]
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=cols)
    table = table.dropna(subset=["p"])
    table["padj"] = false_discovery_control(table.p.to_numpy())
    table = table.reindex(table.rho.abs().sort_values(ascending=False).index)
    return table.groupby("deep_feature", sort=False).head(top)[cols].reset_index(drop=True)


def gradcam_patients(split: pd.DataFrame, available: Sequence[str], per_cohort: int,
                     seed: int) -> list[tuple[str, str]]:
    """``(cohort, patient)`` pairs for Grad-CAM overlays: a seeded sample per cohort."""
    rng = np.random.default_rng(seed)
    out = []
    for cohort in ("train", "internal", "external"):
        ids = sorted(set(split.patient_id[split.cohort == cohort].astype(str)) & set(available))
        if ids and per_cohort:
            pick = rng.choice(len(ids), size=min(per_cohort, len(ids)), replace=False)
            out += [(cohort, ids[i]) for i in sorted(pick)]
    return out


def training_settings(cfg: Mapping) -> dict:
    """Keyword arguments of :func:`hccfusion.deep.train.fit_ensemble` from config ``deep``."""
    return {k: cfg[k] for k in ("n_models", "folds", "epochs", "lr", "batch_size", "seed",
                                "patience")}
