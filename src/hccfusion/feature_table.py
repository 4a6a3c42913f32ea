"""Per patient x phase feature rows, and their merge into one wide cohort table.

Each radiomics job writes one row: ``patient_id, phase, status, reason`` and the features (column
names already prefixed by the phase). A patient excluded in any phase is excluded as a whole, with
every reason kept, so that one bad scan never silently shifts the others.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

META = ["patient_id", "phase", "status", "reason"]


def write_row(path, patient: str, phase: str, features: pd.Series | None, reason: str = "") -> None:
    """Write one job's row; ``features=None`` marks the patient x phase as excluded."""
    row = {"patient_id": patient, "phase": phase}
    if features is None:
        row.update(status="excluded", reason=reason)
        frame = pd.DataFrame([row], columns=META)
    else:
        row.update(status="ok", reason="")
        frame = pd.concat([pd.DataFrame([row]), features.to_frame().T.reset_index(drop=True)], axis=1)
    frame.to_csv(path, sep="\t", index=False, float_format="%.10g")


def merge(paths: list[str | Path], phases: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge job rows into (features: one row per included patient, excluded: patient, reason)."""
    rows = [pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""]) for p in paths]
    if not rows:
        return pd.DataFrame(columns=["patient_id"]), pd.DataFrame(columns=["patient_id", "reason"])
    jobs = pd.concat(rows, ignore_index=True)
    reasons: dict[str, list[str]] = {}
    for rec in jobs[jobs.status != "ok"].itertuples():
        reason = f"{rec.phase}: {rec.reason}"
        if reason not in reasons.setdefault(rec.patient_id, []):  # each phase's cause once
            reasons[rec.patient_id].append(reason)
    ok = jobs[jobs.status == "ok"]
    # One wide row per patient: each phase contributes its own (already prefixed) columns.
    wide = pd.concat(
        [
            ok[ok.phase == phase].set_index("patient_id")[
                [c for c in ok.columns if c.startswith(f"{phase}_")]
            ]
            for phase in phases
        ],
        axis=1,
    )
    for phase in phases:
        done = set(ok.patient_id[ok.phase == phase])
        for pid in set(jobs.patient_id) - done - set(reasons):
            reasons.setdefault(pid, []).append(f"{phase}: no features")
    wide = wide.drop(index=[p for p in reasons if p in wide.index]).sort_index()
    wide.index.name = "patient_id"
    excluded = pd.DataFrame(
        [(pid, "; ".join(r)) for pid, r in sorted(reasons.items())], columns=["patient_id", "reason"]
    )
    return wide.reset_index(), excluded


def add_branch_exclusions(features: pd.DataFrame, excluded: pd.DataFrame, status_paths
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exclude, from the whole cohort, the patients another per-patient branch could not process.

    ``status_paths`` are that branch's per-patient JSON files (``{"patient_id", "status",
    "reason"}``, e.g. rule ``deep_crop``'s; the reason names the branch). A patient it excluded
    leaves every recipe of the run, not just the ones reading that branch, so that every paired
    comparison of the run is made on the same patients; a patient already excluded keeps its
    first reason only.
    """
    known = set(excluded.patient_id)
    extra = []
    for path in status_paths:
        status = json.loads(Path(path).read_text())
        pid = str(status["patient_id"])
        if status.get("status") != "ok" and pid not in known:
            extra.append((pid, status.get("reason") or "excluded by a per-patient branch"))
    if not extra:
        return features, excluded
    more = pd.DataFrame(extra, columns=["patient_id", "reason"])
    excluded = pd.concat([excluded, more], ignore_index=True).sort_values("patient_id")
    features = features[~features.patient_id.isin(more.patient_id)]
    return features.reset_index(drop=True), excluded.reset_index(drop=True)


def load_user_table(path, clinical_ids) -> pd.DataFrame:
    """A user's own radiomics table (config ``feature_table``), checked against the clinical ids.

    One row per patient: ``patient_id`` then numeric feature columns (empty cells are missing
    values, imputed later on training patients only). Errors name the file, the rows or columns
    and what is wrong: no ``patient_id`` column, duplicated or unsafe ids, non-numeric cells,
    patients missing from either table.
    """
    import re

    from hccfusion.errors import TableError, id_mismatch

    path = Path(path)
    if not path.is_file():
        raise TableError(f"feature table {path} does not exist")
    try:
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TableError(f"feature table {path} is not a readable TSV file: {exc}") from exc
    if "patient_id" not in raw.columns:
        raise TableError(f"feature table {path}: no 'patient_id' column")
    if raw.shape[1] < 2:
        raise TableError(f"feature table {path}: no feature column besides 'patient_id'")
    ids = raw.patient_id.str.strip()
    bad = [f"row {i + 2} ({v!r})" for i, v in ids.items()
           if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", v)]
    if bad:
        raise TableError(f"feature table {path}, column 'patient_id': unsafe or empty id in "
                         f"{', '.join(bad[:10])} (letters, digits, '_' and '-' only)")
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise TableError(f"feature table {path}: duplicated patient_id {', '.join(dup[:10])}")
    features = raw.drop(columns="patient_id")
    text = features.apply(lambda c: c.str.strip())
    numbers = text.apply(lambda c: pd.to_numeric(c.replace("", None), errors="coerce"))
    wrong = numbers.isna() & (text != "") & ~text.isin(["NA", "NaN", "nan"])
    if wrong.any().any():
        cells = [f"row {r + 2} (patient {ids[r]}), column '{c}': {text.at[r, c]!r}"
                 for c in wrong.columns for r in wrong.index[wrong[c]]][:10]
        raise TableError(f"feature table {path}: non-numeric values in " + "; ".join(cells))
    mismatch = id_mismatch(ids, clinical_ids, "patients not in the clinical table",
                           "clinical patients without features")
    if mismatch:
        raise TableError(f"feature table {path}: {mismatch}")
    numbers.insert(0, "patient_id", ids)
    return numbers.sort_values("patient_id").reset_index(drop=True)
