"""Cohort split: stratified 7:3 train/internal inside the development centre, other centre external.

Seed 001: "Patients from the SCH cohort were randomly stratified into training and internal
validation cohorts (7:3 ratio) balanced by treatment outcomes, while all patients from the QL
cohort served as the external validation cohort."
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

COHORTS = ("train", "internal", "external")


def _stratum_labels(values: pd.Series) -> pd.Series:
    """Stratification labels; a missing outcome is its own stratum so no patient is lost."""
    labels = values.astype("string")
    return labels.fillna("<missing>")


def make_split(clinical: pd.DataFrame, cfg: Mapping) -> pd.DataFrame:
    """Assign every patient to ``train``, ``internal`` or ``external``.

    Parameters
    ----------
    clinical
        Clinical table with at least ``patient_id``, ``center`` and the stratification column.
    cfg
        Full configuration; reads ``cfg["split"]`` with keys ``development_center``,
        ``external_center``, ``internal_fraction``, ``stratify_by`` and ``seed``.

    Returns
    -------
    DataFrame with columns ``patient_id, center, cohort`` in the order of ``clinical``.
    The assignment depends only on the seed and the set of patients, not on row order.
    """
    scfg = cfg["split"]
    dev = scfg["development_center"]
    ext = scfg.get("external_center")
    frac = float(scfg.get("internal_fraction", 0.3))
    strat_col = scfg.get("stratify_by")
    seed = int(scfg.get("seed", 0))

    for col in ("patient_id", "center"):
        if col not in clinical.columns:
            raise ValueError(f"clinical table has no '{col}' column")
    if not 0.0 < frac < 1.0:
        raise ValueError(f"split.internal_fraction must be in (0, 1), got {frac}")
    ids = clinical["patient_id"].astype(str)
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise ValueError(f"duplicated patient_id in clinical table: {', '.join(dup[:20])}")

    centers = clinical["center"].astype(str)
    known = {str(dev)} | ({str(ext)} if ext is not None else set())
    unknown = sorted(set(centers) - known)
    if unknown:
        raise ValueError(
            f"centres {unknown} are neither the development centre ({dev!r}) "
            f"nor the external centre ({ext!r})"
        )
    is_dev = (centers == str(dev)).to_numpy()
    if not is_dev.any():
        raise ValueError(f"no patient from the development centre {dev!r}")

    dev_ids = np.sort(ids[is_dev].to_numpy())
    strata = None
    if strat_col is not None:
        if strat_col not in clinical.columns:
            raise ValueError(f"split.stratify_by column '{strat_col}' is not in the clinical table")
        by_id = pd.Series(clinical[strat_col].to_numpy(), index=ids.to_numpy())
        strata = _stratum_labels(by_id.loc[dev_ids]).to_numpy()
        # At least one expected patient per stratum on each side of the split.
        min_n = max(2, math.ceil(1.0 / min(frac, 1.0 - frac)))
        counts = pd.Series(strata).value_counts()
        small = counts[counts < min_n]
        if len(small):
            detail = ", ".join(f"{k!r}: {v}" for k, v in small.items())
            raise ValueError(
                f"cannot stratify the development centre by '{strat_col}': classes with fewer "
                f"than {min_n} patients ({detail})"
            )

    train_ids, internal_ids = train_test_split(
        dev_ids, test_size=frac, stratify=strata, random_state=seed, shuffle=True
    )
    cohort = pd.Series("external", index=ids.to_numpy(), dtype=object)
    cohort.loc[train_ids] = "train"
    cohort.loc[internal_ids] = "internal"
    return pd.DataFrame(
        {
            "patient_id": ids.to_numpy(),
            "center": clinical["center"].to_numpy(),
            "cohort": cohort.loc[ids.to_numpy()].to_numpy(),
        }
    )
