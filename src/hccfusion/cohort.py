"""Assemble the modelling cohort (clinical + radiomics + split) and extract endpoint targets."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sksurv.util import Surv

from hccfusion.errors import id_mismatch, name_list

log = logging.getLogger(__name__)

_MAX_NAMED = 20
# Columns of the clinical table that are never features.
_ID_COLUMNS = ("patient_id", "center", "cohort")


def _names(values: Iterable) -> str:
    return name_list(values, _MAX_NAMED)


def _check_unique(ids: pd.Series, table: str) -> None:
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise ValueError(f"duplicated patient_id in {table} table: {_names(dup)}")


def _coerce_numeric(df: pd.DataFrame, table: str, allow_categorical: bool) -> pd.DataFrame:
    """Parse numeric columns; a mostly numeric column with unparsable cells is an error.

    A column whose non-missing cells are mostly numbers is a measurement (e.g. a lab value), so a
    stray ``"12,5"`` or ``"<5"`` must not silently turn it into a categorical feature.
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_bool_dtype(s):
            out[col] = s.astype(float)
            continue
        if pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype(float)  # also turns nullable Int64 <NA> into NaN
            continue
        present = s.notna()
        parsed = pd.to_numeric(s.where(present), errors="coerce")
        bad = present & parsed.isna()
        n_present = int(present.sum())
        if not bad.any():
            out[col] = parsed.astype(float)
        elif allow_categorical and bad.sum() > n_present / 2:
            out[col] = s.astype(object).where(present, np.nan)
        else:
            cells = [f"{pid}={s.loc[pid]!r}" for pid in s.index[bad]]
            raise ValueError(
                f"{table} column '{col}' is numeric but has non-numeric values for patients: "
                f"{_names(cells)}"
            )
    return out


@dataclass(frozen=True)
class Cohort:
    """Merged cohort, indexed by ``patient_id``.

    ``data`` holds ``center``, ``cohort`` (train/internal/external), every clinical column,
    every radiomics column and the columns of the extra feature tables (habitats, deep-learning
    features). ``clinical_columns``, ``radiomics_columns`` and ``extra_blocks`` (table name ->
    columns) remember their origin.
    """

    data: pd.DataFrame
    clinical_columns: tuple[str, ...]
    radiomics_columns: tuple[str, ...]
    extra_blocks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def rows(self, cohort: str) -> pd.DataFrame:
        """Patients of one cohort (``train``, ``internal`` or ``external``)."""
        return self.data.loc[self.data["cohort"] == cohort]

    def block_columns(self, block: str, exclude: Sequence[str] = ()) -> list[str]:
        """Feature columns of a block.

        ``clinical``: clinical columns minus ``exclude`` (outcomes etc.); ``radiomics``: every
        radiomics column; the name of an extra feature table (``habitats``, ``deep``): its
        columns; any other name is taken as a radiomics prefix (e.g. ``arterial``).
        """
        if block in self.extra_blocks:
            cols = list(self.extra_blocks[block])
        elif block == "clinical":
            drop = set(exclude) | set(_ID_COLUMNS)
            cols = [c for c in self.clinical_columns if c not in drop]
        elif block == "radiomics":
            cols = list(self.radiomics_columns)
        else:
            cols = [c for c in self.radiomics_columns if c.startswith(f"{block}_")]
        if not cols:
            raise ValueError(f"feature block '{block}' has no columns")
        return cols


def assemble(clinical: pd.DataFrame, radiomics: pd.DataFrame, split: pd.DataFrame,
             extra: Mapping[str, pd.DataFrame] | None = None) -> Cohort:
    """Merge the clinical table, the radiomics table, the extra feature tables (``{block name:
    table}``, e.g. habitats or deep-learning features; entirely numeric, one row per patient)
    and the split by ``patient_id``.

    Raises ``ValueError`` naming the patients when an id is duplicated or present in one table
    and not in another, naming overlapping column names, and naming column and patient for
    non-numeric values in numeric columns (radiomics must be entirely numeric).
    """
    extra = dict(extra or {})
    clash = sorted({"clinical", "radiomics", "split"} & set(extra))
    if clash:
        raise ValueError(f"extra feature tables may not be named {clash}")
    tables = {"clinical": clinical, "radiomics": radiomics, "split": split, **extra}
    ids = {}
    for name, table in tables.items():
        if "patient_id" not in table.columns:
            raise ValueError(f"{name} table has no 'patient_id' column")
        ids[name] = table["patient_id"].astype(str)
        _check_unique(ids[name], name)
    if "cohort" not in split.columns:
        raise ValueError("split table has no 'cohort' column")

    for name in ("radiomics", "split", *extra):
        mismatch = id_mismatch(ids["clinical"], ids[name], f"in clinical but not in {name}",
                               f"in {name} but not in clinical")
        if mismatch:
            raise ValueError("patients do not match between tables; " + mismatch)

    clin = clinical.set_index(ids["clinical"].rename("patient_id")).drop(columns="patient_id")
    rad = radiomics.set_index(ids["radiomics"].rename("patient_id")).drop(columns="patient_id")
    overlap = sorted(set(clin.columns) & set(rad.columns))
    if overlap:
        raise ValueError(f"columns present in both clinical and radiomics tables: {_names(overlap)}")
    more = {}
    seen = set(clin.columns) | set(rad.columns)
    for name, table in extra.items():
        frame = table.set_index(ids[name].rename("patient_id")).drop(columns="patient_id")
        overlap = sorted(seen & set(frame.columns))
        if overlap:
            raise ValueError(f"columns of the {name} table already present in another table: "
                             f"{_names(overlap)}")
        seen |= set(frame.columns)
        more[name] = _coerce_numeric(frame, name, allow_categorical=False)

    clin_feat = [c for c in clin.columns if c not in _ID_COLUMNS]
    clin = clin.copy()
    clin[clin_feat] = _coerce_numeric(clin[clin_feat], "clinical", allow_categorical=True)
    rad = _coerce_numeric(rad, "radiomics", allow_categorical=False)

    spl = split.set_index(ids["split"].rename("patient_id"))
    bad = sorted(set(spl["cohort"].astype(str)) - {"train", "internal", "external"})
    if bad:
        raise ValueError(f"unknown cohort labels in split: {bad}")
    order = ids["clinical"].to_numpy()
    head = pd.DataFrame(index=pd.Index(order, name="patient_id"))
    head["center"] = (clin["center"] if "center" in clin.columns else spl["center"]).loc[order]
    head["cohort"] = spl["cohort"].astype(str).loc[order]
    data = pd.concat(
        [head, clin.drop(columns=[c for c in _ID_COLUMNS if c in clin.columns]).loc[order],
         rad.loc[order], *(frame.loc[order] for frame in more.values())],
        axis=1,
    )
    return Cohort(
        data=data,
        clinical_columns=tuple(clin_feat),
        radiomics_columns=tuple(rad.columns),
        extra_blocks={name: tuple(frame.columns) for name, frame in more.items()},
    )


@dataclass(frozen=True)
class Target:
    """Validated outcome of one endpoint.

    ``y``: int array (binary) or scikit-survival structured array (survival), aligned with
    ``index`` (the patients kept); ``dropped``: patients without an outcome for this endpoint.
    """

    y: np.ndarray
    index: pd.Index
    dropped: pd.Index

    @property
    def n_events(self) -> int:
        """Positives (binary) or events (survival)."""
        if self.y.dtype.names:
            return int(self.y[self.y.dtype.names[0]].sum())
        return int(self.y.sum())


def _numeric_outcome(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        raise ValueError(f"outcome column '{col}' is missing")
    s = df[col]
    parsed = pd.to_numeric(s, errors="coerce")
    bad = s.notna() & parsed.isna()
    if bad.any():
        cells = [f"{pid}={s.loc[pid]!r}" for pid in s.index[bad]]
        raise ValueError(f"outcome column '{col}' has non-numeric values for patients: {_names(cells)}")
    return parsed.astype(float)


def _check_binary(values: pd.Series, col: str) -> None:
    bad = values.notna() & ~values.isin([0.0, 1.0])
    if bad.any():
        cells = [f"{pid}={values.loc[pid]:g}" for pid in values.index[bad]]
        raise ValueError(f"outcome column '{col}' must be 0/1; invalid for patients: {_names(cells)}")


def endpoint_target(df: pd.DataFrame, endpoint_cfg: Mapping) -> Target:
    """Outcome of one endpoint for the patients of ``df`` (indexed by patient id).

    ``endpoint_cfg``: ``{"type": "binary", "event": col}`` or
    ``{"type": "survival", "time": col, "event": col}``. Patients with a missing outcome are
    dropped and reported (logged and returned in ``Target.dropped``); invalid values raise a
    ``ValueError`` naming column and patients.
    """
    kind = endpoint_cfg.get("type")
    if kind == "binary":
        event = _numeric_outcome(df, endpoint_cfg["event"])
        _check_binary(event, endpoint_cfg["event"])
        keep = event.notna()
        y = event[keep].to_numpy().astype(int)
    elif kind == "survival":
        time = _numeric_outcome(df, endpoint_cfg["time"])
        event = _numeric_outcome(df, endpoint_cfg["event"])
        _check_binary(event, endpoint_cfg["event"])
        nonpos = time.notna() & (time <= 0)
        if nonpos.any():
            cells = [f"{pid}={time.loc[pid]:g}" for pid in time.index[nonpos]]
            raise ValueError(
                f"outcome column '{endpoint_cfg['time']}' must be > 0; invalid for patients: "
                f"{_names(cells)}"
            )
        keep = time.notna() & event.notna()
        y = Surv.from_arrays(
            event=event[keep].to_numpy().astype(bool), time=time[keep].to_numpy()
        )
    else:
        raise ValueError(f"endpoint type must be 'binary' or 'survival', got {kind!r}")
    dropped = df.index[~keep.to_numpy()]
    if len(dropped):
        log.warning(
            "endpoint %s: %d patient(s) without outcome dropped: %s",
            endpoint_cfg.get("event"), len(dropped), _names(dropped),
        )
    return Target(y=y, index=df.index[keep.to_numpy()], dropped=dropped)
