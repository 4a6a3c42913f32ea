"""Per patient x phase feature rows, and their merge into one wide cohort table.

Each radiomics job writes one row: ``patient_id, phase, status, reason`` and the features (column
names already prefixed by the phase). A patient excluded in any phase is excluded as a whole, with
every reason kept, so that one bad scan never silently shifts the others.
"""

from __future__ import annotations

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
    bad = {}
    for r in rows:
        for _, rec in r[r.status != "ok"].iterrows():
            bad.setdefault(rec.patient_id, []).append(f"{rec.phase}: {rec.reason}")
    per_phase = {}
    for r in rows:
        r = r[r.status == "ok"]
        if len(r):
            per_phase.setdefault(r.phase.iloc[0], []).append(r.drop(columns=META[1:]))
    wide = None
    for phase in phases:
        part = pd.concat(per_phase.get(phase, []), ignore_index=True) if phase in per_phase else None
        if part is None:
            continue
        part = part.set_index("patient_id")
        wide = part if wide is None else wide.join(part, how="outer")
    wide = wide if wide is not None else pd.DataFrame()
    wide = wide.drop(index=[p for p in bad if p in wide.index])
    for phase in phases:
        cols = [c for c in wide.columns if c.startswith(f"{phase}_")]
        missing = wide.index[wide[cols].isna().all(axis=1)] if cols else wide.index
        for pid in missing:
            bad.setdefault(pid, []).append(f"{phase}: no features")
    wide = wide.drop(index=[p for p in bad if p in wide.index])
    excluded = pd.DataFrame(
        [(pid, "; ".join(reasons)) for pid, reasons in sorted(bad.items())],
        columns=["patient_id", "reason"],
    )
    wide = wide.sort_index()
    wide.index.name = "patient_id"
    return wide.reset_index(), excluded
