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
    jobs = pd.concat(rows, ignore_index=True)
    reasons: dict[str, list[str]] = {}
    for rec in jobs[jobs.status != "ok"].itertuples():
        reasons.setdefault(rec.patient_id, []).append(f"{rec.phase}: {rec.reason}")
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
