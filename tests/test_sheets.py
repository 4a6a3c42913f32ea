"""Patient sheet and clinical table: errors name the file, the row, the patient and the column."""

from pathlib import Path

import pandas as pd
import pytest

from hccfusion.errors import TableError
from hccfusion.sheets import (
    check_clinical_columns,
    check_same_patients,
    load_clinical,
    load_patients,
)

PHASES = ["arterial", "venous"]


def _sheet(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "patients.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def _row(pid="A001", center="A", **extra):
    row = {
        "patient_id": pid,
        "center": center,
        "arterial_image": f"images/{pid}/arterial",
        "arterial_mask": f"masks/{pid}_arterial.nii.gz",
        "venous_image": f"images/{pid}/venous",
        "venous_mask": f"masks/{pid}_venous.nii.gz",
        "box_prompt": "-10.5,2,3,20,30.25,40",
    }
    row.update(extra)
    return row


def test_sheet_paths_resolve_relative_to_the_sheet(tmp_path):
    sheet = load_patients(_sheet(tmp_path, [_row("A001"), _row("B002", "B")]), PHASES)
    assert list(sheet.patient_id) == ["A001", "B002"]
    assert sheet.loc["A001", "arterial_image"] == str((tmp_path / "images/A001/arterial").resolve())
    assert sheet.loc["B002", "arterial_series"] is None
    # No second reader in this sheet: the column exists and is empty.
    assert sheet["venous_mask_reader2"].isna().all()


def test_second_reader_masks_are_optional_per_patient(tmp_path):
    rows = [_row("A001", arterial_mask_reader2="r2/A001_a.nii.gz",
                 venous_mask_reader2="r2/A001_v.nii.gz"), _row("A002")]
    sheet = load_patients(_sheet(tmp_path, rows), PHASES)
    assert sheet.loc["A001", "venous_mask_reader2"] == str((tmp_path / "r2/A001_v.nii.gz").resolve())
    assert sheet.loc["A002", "arterial_mask_reader2"] is None
    with pytest.raises(TableError, match="unknown column 'arterial_mask_reader3'"):
        load_patients(_sheet(tmp_path, [_row("A001", arterial_mask_reader3="x")]), PHASES)


@pytest.mark.parametrize("bad_id", ["../x", "a b", "x;rm -rf y", "$(id)", "", "-x", "a/b"])
def test_unsafe_patient_ids_are_rejected(tmp_path, bad_id):
    path = _sheet(tmp_path, [_row("A001"), _row(bad_id)])
    with pytest.raises(TableError, match=r"row 3 .*column 'patient_id'"):
        load_patients(path, PHASES)


def test_sheet_unknown_column_duplicate_and_missing_phase(tmp_path):
    with pytest.raises(TableError, match="unknown column 'arterial_imgae'"):
        load_patients(_sheet(tmp_path, [_row(arterial_imgae="x")]), PHASES)
    with pytest.raises(TableError, match=r"duplicated patient_id: row 2 \(A001\), row 3 \(A001\)"):
        load_patients(_sheet(tmp_path, [_row(), _row()]), PHASES)
    with pytest.raises(TableError, match="missing column.*portal_image"):
        load_patients(_sheet(tmp_path, [_row()]), ["arterial", "portal"])
    with pytest.raises(TableError, match=r"column 'box_prompt'"):
        load_patients(_sheet(tmp_path, [_row(box_prompt="1,2,3")]), PHASES)
    # A missing phase: the patient has no venous scan.
    with pytest.raises(TableError, match=r"column 'venous_image': empty in row 3 \(A002\)"):
        load_patients(_sheet(tmp_path, [_row(), _row("A002", venous_image="")]), PHASES)
    # Without provided masks (box or MedSAM segmentation) masks may be absent, boxes may not.
    no_masks = [{k: v for k, v in _row(p).items() if not k.endswith("_mask")} for p in ("A1", "A2")]
    sheet = load_patients(_sheet(tmp_path, no_masks), PHASES, require_masks=False, require_boxes=True)
    assert sheet.arterial_mask.isna().all()
    no_masks[1]["box_prompt"] = ""
    with pytest.raises(TableError, match=r"column 'box_prompt': needed .* row 3 \(A2\)"):
        load_patients(_sheet(tmp_path, no_masks), PHASES, require_masks=False, require_boxes=True)


def _clinical(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "clinical.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def _clin(pid="A001", **extra):
    row = {"patient_id": pid, "center": "A", "age": 61, "sex": "M", "albumin_g_l": 38.5,
           "response_3m": 1, "os_days": 400, "os_event": 1, "custom_score": 3.5}
    row.update(extra)
    return row


def test_clinical_types(tmp_path):
    table = load_clinical(_clinical(tmp_path, [_clin(), _clin("A002", albumin_g_l=None)]))
    assert table.albumin_g_l.dtype.kind == "f"
    assert table.custom_score.dtype.kind == "f"
    assert pd.isna(table.loc["A002", "albumin_g_l"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"albumin_g_l": "abc"}, r"row 3 \(patient A002\), column 'albumin_g_l': 'abc' is not of type"),
        ({"os_days": 0}, r"row 3 \(patient A002\), column 'os_days'"),
        ({"os_days": -5}, r"column 'os_days'"),
        ({"os_event": 2}, r"row 3 \(patient A002\), column 'os_event': 2 is not one of"),
        ({"sex": "X"}, r"column 'sex'"),
        ({"custom_score": "high"}, r"column 'custom_score': non-numeric values.*A002.*'high'"),
    ],
)
def test_clinical_bad_values_name_row_and_column(tmp_path, change, expected):
    rows = [_clin("A001"), _clin("A002", **change), _clin("A003")]
    with pytest.raises(TableError, match=expected):
        load_clinical(_clinical(tmp_path, rows))


def test_outcome_columns_and_patient_agreement(tmp_path):
    table = load_clinical(_clinical(tmp_path, [_clin("A001"), _clin("A002")]))
    endpoints = {"pfs": {"type": "survival", "time": "pfs_days", "event": "pfs_event"}}
    with pytest.raises(TableError, match="missing outcome column.*'pfs_days' \\(endpoint pfs\\)"):
        check_clinical_columns(table, endpoints, "clinical.tsv")
    sheet = load_patients(_sheet(tmp_path, [_row("A001"), _row("A003")]), PHASES)
    with pytest.raises(TableError) as err:
        check_same_patients(sheet, table, "patients.tsv", "clinical.tsv")
    assert "not in the patient sheet patients.tsv: A002" in str(err.value)
    assert "not in the clinical table clinical.tsv: A003" in str(err.value)
