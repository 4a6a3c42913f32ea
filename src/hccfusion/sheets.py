"""The two input tables: the patient sheet (images and masks) and the clinical table.

Both are TSV files checked cell by cell against their JSON schemas, so that an error names the
file, the row, the patient and the column. Identifiers are restricted to a safe pattern because
they become file names and Snakemake wildcards.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd

from hccfusion.config import load_schema
from hccfusion.errors import TableError, id_mismatch


def _read_tsv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise TableError(f"{what} {path} does not exist")
    try:
        # Everything as text first: types are decided against the schema, cell by cell.
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TableError(f"{what} {path} is not a readable TSV file: {exc}") from exc


def _as_number(text: str) -> float | int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _typed_records(df: pd.DataFrame, schema: dict) -> list[dict[str, Any]]:
    """Turn text cells into JSON values: '' -> None, numbers where the schema allows them."""
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    records = []
    for _, row in df.iterrows():
        rec: dict[str, Any] = {}
        for col, text in row.items():
            text = text.strip()
            if text == "" or text.upper() in {"NA", "NAN", "NULL", "NONE"}:
                rec[col] = None
                continue
            spec = props.get(col, extra if isinstance(extra, dict) else {})
            types = spec.get("type", [])
            types = [types] if isinstance(types, str) else types
            number = _as_number(text) if ("number" in types or "integer" in types) else None
            rec[col] = number if number is not None else text
        records.append(rec)
    return records


def _check_header(columns, schema, path: Path, what: str) -> None:
    """Unknown columns are reported once, not once per row."""
    if schema.get("additionalProperties", True) is not False:
        return
    allowed = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    unknown = [c for c in columns if c not in allowed and not any(p.search(c) for p in patterns)]
    if unknown:
        names = ", ".join(f"'{c}'" for c in unknown)
        raise TableError(
            f"{what} {path}: unknown column {names} (allowed: {', '.join(sorted(allowed))}, "
            "and <phase>_image, <phase>_mask, <phase>_mask_reader2, <phase>_series)"
        )


def _validate_rows(records, schema, path: Path, what: str) -> None:
    _check_header(list(records[0]) if records else [], schema, path, what)
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for i, rec in enumerate(records):
        pid = rec.get("patient_id")
        for err in sorted(validator.iter_errors(rec), key=lambda e: list(e.absolute_path)):
            column = ".".join(str(p) for p in err.absolute_path)
            if err.validator == "additionalProperties":
                where = "columns"
            elif column:
                where = f"column '{column}'"
            else:
                where = "row"
            # Row numbers count the header as line 1, as a spreadsheet shows them.
            problems.append(f"row {i + 2} (patient {pid}), {where}: {err.message}")
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise TableError(f"{what} {path} is invalid:\n  " + "\n  ".join(shown))


def _check_unique_ids(df: pd.DataFrame, path: Path, what: str) -> None:
    dup = df["patient_id"][df["patient_id"].duplicated(keep=False)]
    if len(dup):
        rows = ", ".join(f"row {i + 2} ({pid})" for i, pid in dup.items())
        raise TableError(f"{what} {path}: duplicated patient_id: {rows}")


def _load_checked(path: Path, what: str, schema_name: str):
    """Read a TSV, type its cells and check them against the schema and for duplicated ids."""
    df = _read_tsv(path, what)
    if "patient_id" not in df.columns:
        raise TableError(f"{what} {path}: no 'patient_id' column")
    schema = load_schema(schema_name)
    records = _typed_records(df, schema)
    _validate_rows(records, schema, path, what)
    _check_unique_ids(df, path, what)
    return df, records, schema


def _absolute(paths, base: Path) -> list:
    return [
        None if v is None else v if Path(v).is_absolute() else str((base / v).resolve())
        for v in paths
    ]


def scan_kinds(method: str) -> tuple[str, ...]:
    """What a segmentation method needs of each patient in the sheet: the image always, the
    mask when it is the segmentation, the box prompt when a box-prompted method segments."""
    return ("image", "mask") if method == "provided" else ("image", "box_prompt")


def load_patients(
    path: str | Path, phases: list[str], *, require_masks: bool = True,
    require_boxes: bool = False, allow_missing: bool = False,
) -> pd.DataFrame:
    """Read and check the patient sheet; image and mask paths come back absolute.

    Relative paths in the sheet are taken relative to the sheet's folder, so a cohort folder can be
    moved as a whole. Masks are required when they are the segmentation (``require_masks``);
    box prompts when a box-prompted method segments (``require_boxes``). With ``allow_missing``
    (``on_patient_error: exclude``) empty required cells are kept: :func:`missing_input` then
    names them per patient, and that patient alone is excluded.
    """
    path = Path(path)
    df, records, _ = _load_checked(path, "patient sheet", "patients")
    required = ("image", "mask") if require_masks else ("image",)
    missing = [f"{p}_{k}" for p in phases for k in required if f"{p}_{k}" not in df.columns]
    if missing:
        raise TableError(
            f"patient sheet {path}: missing column(s) {', '.join(missing)} for the configured phases"
        )
    out = pd.DataFrame.from_records(records)
    base = path.resolve().parent
    for p in phases:
        for k in ("image", "mask", "mask_reader2"):  # the second reader's is always optional
            col = f"{p}_{k}"
            if col not in out.columns:
                out[col] = None
                continue
            empty = out[col].isna()
            if empty.any() and k in required and not allow_missing:
                rows = ", ".join(f"row {i + 2} ({out.patient_id[i]})" for i in out.index[empty])
                raise TableError(f"patient sheet {path}, column '{col}': empty in {rows}")
            out[col] = _absolute(out[col], base)
        if f"{p}_series" not in out.columns:
            out[f"{p}_series"] = None
    if "box_prompt" not in out.columns:
        out["box_prompt"] = None
    if require_boxes and not allow_missing and out["box_prompt"].isna().any():
        rows = ", ".join(
            f"row {i + 2} ({out.patient_id[i]})" for i in out.index[out["box_prompt"].isna()]
        )
        raise TableError(
            f"patient sheet {path}, column 'box_prompt': needed by the segmentation method, "
            f"empty in {rows}"
        )
    return out.set_index("patient_id", drop=False)


def missing_input(patients: pd.DataFrame, patient: str, phase: str, kinds, sheet_path) -> str | None:
    """Why ``patient``'s ``phase`` cannot be read, or None: an empty required cell of the sheet
    (``kinds`` from :func:`scan_kinds`) or an image or mask file that does not exist."""
    row = patients.loc[patient]
    line = patients.index.get_loc(patient) + 2  # the sheet's row as a spreadsheet shows it
    for kind in kinds:
        column = "box_prompt" if kind == "box_prompt" else f"{phase}_{kind}"
        value = row.get(column)
        if not isinstance(value, str) or not value:
            need = "; needed by the segmentation method" if kind == "box_prompt" else ""
            return (f"patient sheet {sheet_path}, column '{column}': empty in row {line} "
                    f"({patient}){need}")
        if kind != "box_prompt" and not Path(value).exists():
            return f"{kind} {value} (patient sheet {sheet_path}, column '{column}') does not exist"
    return None


def load_clinical(path: str | Path) -> pd.DataFrame:
    """Read and check the clinical table: known variables typed, other columns numeric or text."""
    path = Path(path)
    df, records, schema = _load_checked(path, "clinical table", "clinical")
    out = pd.DataFrame.from_records(records, columns=list(df.columns))
    known = schema.get("properties", {})
    for col in out.columns:
        if col in known:
            continue
        values = out[col].dropna()
        numeric = values.map(lambda v: isinstance(v, int | float))
        # A column that is mostly numbers with a few words in it is a typo, not a category.
        if 0 < (~numeric).sum() and numeric.mean() >= 0.5:
            bad = out.index[out[col].map(lambda v: isinstance(v, str))]
            rows = ", ".join(f"row {i + 2} ({out.patient_id[i]}): {out[col][i]!r}" for i in bad[:10])
            raise TableError(f"clinical table {path}, column '{col}': non-numeric values in a numeric column: {rows}")
    for col in out.columns:
        if col in known and "number" in known[col].get("type", []):
            out[col] = pd.to_numeric(out[col])
        elif col not in known and out[col].map(lambda v: v is None or isinstance(v, int | float)).all():
            out[col] = pd.to_numeric(out[col])
    return out.set_index("patient_id", drop=False)


def check_clinical_columns(clinical: pd.DataFrame, endpoints: dict, path: str | Path) -> None:
    """Every outcome column named by the config exists in the clinical table."""
    needed = {}
    for name, ep in endpoints.items():
        for key in ("event", "time"):
            if key in ep:
                needed.setdefault(ep[key], name)
    missing = [f"'{c}' (endpoint {e})" for c, e in needed.items() if c not in clinical.columns]
    if missing:
        raise TableError(f"clinical table {path}: missing outcome column(s) {', '.join(missing)}")


def check_same_patients(patients: pd.DataFrame, clinical: pd.DataFrame, sheet_path, clinical_path) -> None:
    """The patient sheet and the clinical table must list the same patients."""
    mismatch = id_mismatch(
        clinical.patient_id, patients.patient_id,
        f"clinical table {clinical_path} has patient(s) not in the patient sheet {sheet_path}",
        f"patient sheet {sheet_path} has patient(s) not in the clinical table {clinical_path}",
        sep="\n",
    )
    if mismatch:
        raise TableError(mismatch)


def patients_from_clinical(clinical: pd.DataFrame, clinical_path) -> pd.DataFrame:
    """The patient list when features come from a user's table: the clinical table's ids and
    centres (its ``center`` column is then required)."""
    if "center" not in clinical.columns:
        raise TableError(
            f"clinical table {clinical_path}: a 'center' column is needed when features come "
            "from config 'feature_table' (there is no patient sheet to take it from)"
        )
    empty = clinical.patient_id[clinical.center.isna()].tolist()
    if empty:
        raise TableError(f"clinical table {clinical_path}, column 'center': empty for "
                         f"{', '.join(map(str, empty[:10]))}")
    out = clinical[["patient_id", "center"]].copy()
    return out.set_index("patient_id", drop=False)
