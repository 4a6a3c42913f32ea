"""The bad-input matrix: one case per row, on small generated inputs (the tiny demo's DICOM
series and tables). Each case must end in an error naming the patient or row, the column or
file, and what is wrong. Per-patient imaging cases are run both ways: ``on_patient_error: fail``
raises; ``exclude`` gives an excluded record, the patient is listed in ``excluded.tsv`` with the
reason, and every other patient's features are those of a run without the patient (the split is
then drawn from the included patients only, rule ``split``).

Other modules test each check in depth (test_ingest, test_sheets, test_cohort, test_models,
test_omics_expression, test_config); this one is the checklist a user's hospital export meets.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import yaml

from hccfusion.cli import main
from hccfusion.cohort import assemble, endpoint_target
from hccfusion.config import load_config, validate_config
from hccfusion.errors import ConfigError, PatientInputError, TableError
from hccfusion.feature_table import merge, write_row
from hccfusion.imaging.ingest import read_image
from hccfusion.imaging.steps import guarded, prepare_scan
from hccfusion.omics.expression import ExpressionError, load_expression
from hccfusion.sheets import (
    check_same_patients,
    load_clinical,
    load_patients,
    missing_input,
    scan_kinds,
)
from hccfusion.split import make_split

PHASE = "arterial"
REPO = Path(__file__).resolve().parents[1]


# --- imaging, per patient ----------------------------------------------------------------------
@pytest.fixture
def case(tiny_demo, tmp_path):
    """A writable copy of one tiny-demo patient's arterial series, its venous series, and a
    NIfTI tumour mask on the series' grid (a sphere)."""
    sheet = pd.read_csv(tiny_demo / "patients.tsv", sep="\t")
    row = sheet.iloc[0]
    series = tmp_path / "arterial"
    shutil.copytree(tiny_demo / row.arterial_image, series)
    image = read_image(series)
    arr = np.zeros(sitk.GetArrayFromImage(image).shape, np.uint8)
    z, y, x = np.indices(arr.shape)
    c = np.array(arr.shape) // 2
    arr[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= 16] = 1
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(image)
    return {"patient": row.patient_id, "series": series, "image": image, "mask": mask,
            "venous": tiny_demo / row.venous_image, "dir": tmp_path}


def _slices(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"), key=lambda f: float(
        pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))


def _write_mask(case, mask: sitk.Image) -> Path:
    path = case["dir"] / "mask.nii.gz"
    sitk.WriteImage(mask, str(path))
    return path


def corrupt_dicom(case):
    bad = _slices(case["series"])[2]
    raw = bytearray(bad.read_bytes())
    raw[128:600] = np.random.default_rng(0).integers(0, 256, 472, dtype=np.uint8).tobytes()
    bad.write_bytes(bytes(raw))
    return _write_mask(case, case["mask"]), bad, "unreadable DICOM file"


def missing_slice(case):
    _slices(case["series"])[3].unlink()
    return _write_mask(case, case["mask"]), case["series"], "missing slices"


def two_series(case):
    for k, f in enumerate(sorted(case["venous"].glob("*.dcm"))):
        shutil.copy(f, case["series"] / f"venous_{k:03d}.dcm")
    return _write_mask(case, case["mask"]), case["series"], "folder holds 2 DICOM series"


def geometry_mismatch(case):
    mask = case["mask"]
    mask.SetSpacing([s * 1.5 for s in mask.GetSpacing()])
    path = _write_mask(case, mask)
    return path, path, "mask geometry does not match the image: spacing"


def empty_mask(case):
    path = _write_mask(case, case["mask"] * 0)
    return path, path, "mask is empty"


def mask_outside(case):
    mask = case["mask"]
    mask.SetOrigin([o + 500.0 for o in mask.GetOrigin()])
    path = _write_mask(case, mask)
    return path, path, "mask geometry does not match the image"


def tumour_too_small(case):
    arr = np.zeros(sitk.GetArrayFromImage(case["mask"]).shape, np.uint8)
    arr[5, 20, 20:23] = 1
    small = sitk.GetImageFromArray(arr)
    small.CopyInformation(case["image"])
    path = _write_mask(case, small)
    return path, path, "tumour too small: the tumour has 3 voxels"


IMAGING = [corrupt_dicom, missing_slice, two_series, geometry_mismatch, empty_mask,
           mask_outside, tumour_too_small]


def _prepare(case, mask_path, on_error):
    out = case["dir"] / "out"
    out.mkdir(exist_ok=True)
    return guarded(
        lambda: prepare_scan(case["series"], out / "image.nii.gz", out / "mask.nii.gz",
                             patient=case["patient"], phase=PHASE, mask_path=mask_path),
        on_error=on_error, outputs=[out / "image.nii.gz", out / "mask.nii.gz"],
        record={"patient": case["patient"], "phase": PHASE})


@pytest.mark.parametrize("make_bad", IMAGING, ids=lambda f: f.__name__)
def test_imaging_case_fails_or_is_excluded(case, make_bad):
    assert _prepare(case, _write_mask(case, case["mask"]), "fail")["status"] == "ok"
    mask_path, bad_file, problem = make_bad(case)
    with pytest.raises(PatientInputError) as err:
        _prepare(case, mask_path, "fail")
    msg = str(err.value)
    assert msg.startswith(f"patient {case['patient']}, phase {PHASE}, file {bad_file}: "), msg
    assert problem in msg, msg

    record = _prepare(case, mask_path, "exclude")
    assert record["status"] == "excluded" and problem in record["reason"]
    # The per-patient rows merge into a table without the patient, which is listed with its
    # reason; the other patients' features are those of a merge that never saw the patient.
    rows = case["dir"] / "rows"
    rows.mkdir()
    good = {"A900": 1.5, "A901": 2.5}
    for pid, value in good.items():
        write_row(rows / f"{pid}.tsv", pid, PHASE, pd.Series({f"{PHASE}_f": value}))
    write_row(rows / "bad.tsv", case["patient"], PHASE, None, reason=record["reason"])
    features, excluded = merge(sorted(rows.glob("*.tsv")), [PHASE])
    assert excluded.to_dict("records") == [
        {"patient_id": case["patient"], "reason": f"{PHASE}: {record['reason']}"}]
    without, _ = merge([rows / f"{pid}.tsv" for pid in sorted(good)], [PHASE])
    pd.testing.assert_frame_equal(features, without)


def _sheet(tiny_demo, tmp_path, change) -> Path:
    """The tiny demo's patient sheet with absolute paths, changed by ``change``."""
    sheet = pd.read_csv(tiny_demo / "patients.tsv", sep="\t", dtype=str, keep_default_na=False)
    for col in sheet.columns:
        if col.endswith(("_image", "_mask")):
            sheet[col] = [str(tiny_demo / v) for v in sheet[col]]
    change(sheet)
    path = tmp_path / "patients.tsv"
    sheet.to_csv(path, sep="\t", index=False)
    return path


def test_missing_phase_names_row_and_column(tiny_demo, tmp_path):
    """An empty image cell stops the plan under ``fail``; under ``exclude`` the sheet loads and
    that patient x phase alone has a reason (rule ingest turns it into an exclusion, checked end
    to end by test_tiny_run). An image path that does not exist is named the same way."""
    def change(sheet):
        sheet.loc[2, "venous_image"] = ""
        sheet.loc[5, "arterial_image"] += "_moved"
    path = _sheet(tiny_demo, tmp_path, change)
    ids = pd.read_csv(path, sep="\t").patient_id
    with pytest.raises(TableError, match=rf"{path}, column 'venous_image': empty in row 4 "
                                         rf"\({ids[2]}\)"):
        load_patients(path, ["arterial", "venous"])
    patients = load_patients(path, ["arterial", "venous"], allow_missing=True)
    kinds = scan_kinds("provided")
    reasons = {(pid, phase): missing_input(patients, pid, phase, kinds, path)
               for pid in ids for phase in ("arterial", "venous")}
    assert reasons.pop((ids[2], "venous")) == (
        f"patient sheet {path}, column 'venous_image': empty in row 4 ({ids[2]})")
    moved = patients.loc[ids[5], "arterial_image"]
    assert reasons.pop((ids[5], "arterial")) == (
        f"image {moved} (patient sheet {path}, column 'arterial_image') does not exist")
    assert set(reasons.values()) == {None}


def test_missing_box_prompt_names_row(tiny_demo, tmp_path, capsys):
    """A box-prompted segmentation needs the patient's box: the same two ways, and
    validate-config names it once for the phases it stops."""
    def change(sheet):
        sheet.loc[3, "box_prompt"] = ""
    path = _sheet(tiny_demo, tmp_path, change)
    pid = pd.read_csv(path, sep="\t").patient_id[3]
    with pytest.raises(TableError, match=rf"column 'box_prompt': needed .* row 5 \({pid}\)"):
        load_patients(path, ["arterial", "venous"], require_masks=False, require_boxes=True)
    patients = load_patients(path, ["arterial", "venous"], require_masks=False,
                             require_boxes=True, allow_missing=True)
    assert missing_input(patients, pid, "venous", scan_kinds("box"), path) == (
        f"patient sheet {path}, column 'box_prompt': empty in row 5 ({pid}); needed by the "
        "segmentation method")
    assert scan_kinds("medsam") == scan_kinds("box") == ("image", "box_prompt")
    config = _config(tmp_path, tiny_demo, path, "box", on_patient_error="exclude",
                     segmentation={"method": "box"})
    assert main(["validate-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "1 missing input(s)" in out and (
        f"patient {pid}, phase arterial, venous: patient sheet {path}, column 'box_prompt'") in out


def _config(tmp_path, tiny_demo, sheet, name, **changes) -> Path:
    """config/tiny.yaml on ``sheet`` and the tiny demo's clinical table, with ``changes``,
    written to ``name``.yaml."""
    config = load_config(REPO / "config" / "tiny.yaml")
    config.update(patients=str(sheet), clinical=str(tiny_demo / "clinical.tsv"), **changes)
    file = tmp_path / f"{name}.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


def test_validate_config_lists_missing_scans(tiny_demo, tmp_path, capsys):
    """`hccfusion validate-config` names every missing scan before any job runs: an error under
    ``fail``, the patients to be excluded under ``exclude``."""
    def change(sheet):
        sheet.loc[5, "arterial_image"] += "_moved"
    path = _sheet(tiny_demo, tmp_path, change)
    pid = pd.read_csv(path, sep="\t").patient_id[5]
    for mode, code in (("fail", 2), ("exclude", 0)):
        file = _config(tmp_path, tiny_demo, path, mode, on_patient_error=mode)
        assert main(["validate-config", str(file)]) == code
        out = capsys.readouterr()
        line = (f"patient {pid}, phase arterial: image {tiny_demo / 'images' / pid}/arterial_moved "
                f"(patient sheet {path}, column 'arterial_image') does not exist")
        assert line in (out.err if mode == "fail" else out.out), out
        assert "1 missing input(s)" in out.err + out.out


# --- clinical table ----------------------------------------------------------------------------
def _clinical(tiny_demo, tmp_path, change) -> Path:
    table = pd.read_csv(tiny_demo / "clinical.tsv", sep="\t", dtype=str, keep_default_na=False)
    table = change(table)
    path = tmp_path / "clinical.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path


def _set(row: int, column: str, value: str):
    def change(t):
        t.loc[row, column] = value
        return t
    return change


CLINICAL = {
    "duplicated id": (lambda t: pd.concat([t, t.iloc[[4]]], ignore_index=True),
                      r"duplicated patient_id: row 6 \({p4}\), row {last} \({p4}\)"),
    "non-numeric lab": (_set(3, "albumin_g_l", "high"),
                        r"row 5 \(patient {p3}\), column 'albumin_g_l': 'high' is not of type"),
    "zero time": (_set(3, "os_days", "0"),
                  r"row 5 \(patient {p3}\), column 'os_days': 0 is less than or equal to the "
                  r"minimum of 0"),
    "negative time": (_set(3, "pfs_days", "-5"),
                      r"row 5 \(patient {p3}\), column 'pfs_days': -5 is less than"),
    "event value 2": (_set(3, "os_event", "2"),
                      r"row 5 \(patient {p3}\), column 'os_event': 2 is not one of \[0, 1"),
}


@pytest.mark.parametrize("name", sorted(CLINICAL))
def test_clinical_case(tiny_demo, tmp_path, name):
    change, pattern = CLINICAL[name]
    path = _clinical(tiny_demo, tmp_path, change)
    ids = pd.read_csv(tiny_demo / "clinical.tsv", sep="\t").patient_id
    n = len(ids) + 1 + (name == "duplicated id")
    with pytest.raises(TableError, match=rf"clinical table {path}") as err:
        load_clinical(path)
    assert re.search(pattern.format(p3=ids[3], p4=ids[4], last=n), str(err.value)), str(err.value)


def test_clinical_unknown_patient(tiny_demo, tmp_path):
    path = _clinical(tiny_demo, tmp_path,
                     lambda t: pd.concat([t, t.iloc[[0]].assign(patient_id="Z999")]))
    sheet = load_patients(tiny_demo / "patients.tsv", ["arterial", "venous"])
    with pytest.raises(TableError, match=rf"clinical table {path} has patient\(s\) not in the "
                                         r"patient sheet .*: Z999"):
        check_same_patients(sheet, load_clinical(path), tiny_demo / "patients.tsv", path)


@pytest.fixture(scope="module")
def modelling():
    from test_cohort import CFG, modelling_tables
    clin, rad, _ = modelling_tables()
    return clin, rad, CFG


@pytest.mark.parametrize(("endpoint", "change", "pattern"), [
    ("response", lambda c, train: c.assign(response_3m=1),
     r"outcome column 'response_3m': all \d+ training patients have the value 1; a model needs "
     r"both classes"),
    ("response", lambda c, train: c.assign(response_3m=np.where(
        c.patient_id.isin(train[:2]), 1, 0)),
     r"'response_3m': only 2 of \d+ training patients have the value 1 \(A\d+, A\d+\); the "
     r"3-fold cross-validation"),
    ("os", lambda c, train: c.assign(os_event=np.where(c.patient_id.isin(train[:2]), 1, 0)),
     r"outcome column 'os_event': only 2 events among \d+ training patients \(events: A\d+, "
     r"A\d+\); the 3-fold cross-validation .* needs at least one per fold"),
], ids=["single response class", "too few responders for the folds",
        "too few events for the folds"])
def test_outcome_cases(modelling, endpoint, change, pattern):
    from test_models import BLOCKS, LIGHT

    from hccfusion.models import fit_recipe
    clin, rad, cfg = modelling
    split = make_split(clin, cfg)
    train = list(split.patient_id[split.cohort == "train"])
    cohort = assemble(change(clin.copy(), train), rad, split)
    with pytest.raises(ValueError, match=pattern):
        fit_recipe(cohort, cfg["endpoints"][endpoint], BLOCKS, LIGHT, oof=False)


def test_user_named_time_column_names_the_patient(modelling):
    clin, _, cfg = modelling
    bad = clin.set_index("patient_id").head(5).copy()
    bad.iloc[1, bad.columns.get_loc("os_days")] = 0
    with pytest.raises(ValueError, match=rf"'os_days' must be > 0; invalid for patients: "
                                         rf"{bad.index[1]}=0"):
        endpoint_target(bad, cfg["endpoints"]["os"])


# --- expression matrix -------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "pattern"), [
    ("gene\tS1\tS2\nA\t1\t2\nB\t3\t4\nA\t5\t6\n",
     r"1 gene symbol\(s\) on several rows: A \(lines 2, 4\)"),
    ("gene\tS1\tS2\nA\t1\t2\nB\t3\t-4\n", r"1 negative value\(s\) in counts .*B/S2=-4"),
], ids=["duplicated genes", "negative counts"])
def test_expression_case(tmp_path, body, pattern):
    path = tmp_path / "counts.tsv"
    path.write_text(body)
    with pytest.raises(ExpressionError, match=rf"expression matrix {path}: {pattern}"):
        load_expression(path, "counts")


# --- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "pattern"), [
    (lambda c: c.update(cv_fold=5), r"config key '\(top level\)': Additional properties are not "
                                     r"allowed \('cv_fold' was unexpected\)"),
    (lambda c: c.update(cv_folds="five"), r"config key 'cv_folds': 'five' is not of type "
                                          r"'integer'"),
    (lambda c: c["bootstrap"].update(n=-1), r"config key 'bootstrap.n': -1 is less than"),
], ids=["unknown key", "wrong type", "out of range"])
def test_config_case(change, pattern):
    cfg = {"bootstrap": {"n": 100}}
    change(cfg)
    with pytest.raises(ConfigError, match=pattern):
        validate_config(copy.deepcopy(cfg))


def test_config_missing_files(tmp_path):
    with pytest.raises(ConfigError, match=rf"config file {tmp_path / 'nope.yaml'} does not "
                                          "exist"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(TableError, match=rf"patient sheet {tmp_path / 'absent.tsv'} does not "
                                         "exist"):
        load_patients(tmp_path / "absent.tsv", ["arterial", "venous"])
    with pytest.raises(TableError, match=rf"{tmp_path / 'absent.tsv'} does not exist"):
        load_clinical(tmp_path / "absent.tsv")
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({"cv_folds": 1}))
    with pytest.raises(ConfigError, match=rf"(?s){tmp_path / 'cfg.yaml'}: invalid config:.*"
                                          r"'cv_folds': 1 is less than the minimum of 2"):
        load_config(tmp_path / "cfg.yaml")
    from hccfusion.feature_table import load_user_table
    with pytest.raises(TableError, match=rf"feature table {tmp_path / 'f.tsv'} does not exist"):
        load_user_table(tmp_path / "f.tsv", ["A001"])
