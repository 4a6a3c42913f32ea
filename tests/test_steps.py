"""The per-patient imaging steps as the workflow runs them, on the tiny demo."""

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from hccfusion.errors import PatientInputError
from hccfusion.imaging.steps import excluded, guarded, phase_check, prepare_scan


@pytest.fixture(scope="module")
def sheet(tiny_demo):
    return pd.read_csv(tiny_demo / "patients.tsv", sep="\t").set_index("patient_id")


def _scan(tiny_demo, sheet, pid, phase):
    return tiny_demo / sheet.loc[pid, f"{phase}_image"], tiny_demo / sheet.loc[pid, f"{phase}_mask"]


def test_provided_and_box_segmentation(tiny_demo, sheet, tmp_path):
    pid = sheet.index[0]
    image, mask = _scan(tiny_demo, sheet, pid, "arterial")
    out_img, out_mask = tmp_path / "i.nii.gz", tmp_path / "m.nii.gz"
    rec = prepare_scan(image, out_img, out_mask, patient=pid, phase="arterial", mask_path=mask)
    written = sitk.ReadImage(str(out_mask))
    assert rec["method"] == "provided" and rec["mask_voxels"] == int(
        sitk.GetArrayFromImage(written).sum()
    )
    # Free-text NIfTI header fields stay empty: nothing from the DICOM header is carried over.
    header = sitk.ReadImage(str(out_img))
    assert all(header.GetMetaData(k).strip() == "" for k in ("descrip", "aux_file", "ITK_FileNotes"))
    json.dumps(rec, default=str)  # the record is what ingest.json holds

    box = tmp_path / "b.nii.gz"
    rec = prepare_scan(image, tmp_path / "i2.nii.gz", box, patient=pid, phase="arterial",
                       method="box", mask_path=mask, boxes=sheet.loc[pid, "box_prompt"])
    assert rec["method"] == "box"
    assert rec["dice_vs_provided"] > 0.6 and rec["hd95_vs_provided"] < 5


def test_empty_mask_fails_or_is_excluded(tiny_demo, sheet, tmp_path):
    pid = sheet.index[1]
    image, mask = _scan(tiny_demo, sheet, pid, "venous")
    empty = tmp_path / "empty.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(mask)) * 0, str(empty))
    outs = [tmp_path / "i.nii.gz", tmp_path / "m.nii.gz"]

    def step():
        return prepare_scan(image, *outs, patient=pid, phase="venous", mask_path=empty)

    with pytest.raises(PatientInputError) as err:
        guarded(step, on_error="fail", outputs=outs, record={})
    assert f"patient {pid}, phase venous" in str(err.value) and str(empty) in str(err.value)
    assert "empty" in str(err.value)

    rec = guarded(step, on_error="exclude", outputs=outs, record={"patient": pid})
    assert rec["status"] == "excluded" and "empty" in rec["reason"]
    assert all(p.stat().st_size == 0 for p in outs)
    status = tmp_path / "s.json"
    status.write_text(json.dumps(rec))
    assert excluded(status)["patient"] == pid


def test_phase_check_catches_a_mask_from_elsewhere(tiny_demo, sheet, tmp_path):
    pid = sheet.index[0]
    art, ven = (_scan(tiny_demo, sheet, pid, p)[1] for p in ("arterial", "venous"))
    assert phase_check({"arterial": art, "venous": ven}, patient=pid)["dice"] > 0.5
    # A venous mask moved 40 mm away is not the same tumour.
    moved = sitk.ReadImage(str(ven))
    moved.SetOrigin(tuple(np.add(moved.GetOrigin(), (40.0, 0.0, 0.0))))
    shifted = tmp_path / "shifted.nii.gz"
    sitk.WriteImage(moved, str(shifted))
    with pytest.raises(PatientInputError, match=pid):
        phase_check({"arterial": art, "venous": shifted}, patient=pid)
