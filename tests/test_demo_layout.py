"""Demo cohort: output layout, sheets and determinism."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccfusion.demo import SCALES, generate_demo
from hccfusion.demo.clinical import CLINICAL_COLUMNS
from hccfusion.demo.cohort import PATIENT_COLUMNS, TRUTH_COLUMNS, simulate_patient

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=True)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_columns(tiny_demo):
    sc = SCALES["tiny"]
    for name in ("patients.tsv", "clinical.tsv", "truth.tsv", "README.md"):
        assert (tiny_demo / name).is_file()
    expr = tiny_demo / "expression"
    for name in ("counts.tsv", "samples.tsv", "patients.tsv", "clinical.tsv", "truth.tsv",
                 "planted_pathways.tsv", "planted_immune.tsv"):
        assert (expr / name).is_file()

    for root, centres, n in ((tiny_demo, {"A", "B"}, sc.n_a + sc.n_b),
                             (expr, {"TCGA"}, sc.n_matched)):
        sheet, clin, truth = (_read(root / f) for f in ("patients.tsv", "clinical.tsv",
                                                        "truth.tsv"))
        assert list(sheet.columns) == PATIENT_COLUMNS
        assert list(clin.columns) == CLINICAL_COLUMNS
        assert list(truth.columns) == TRUTH_COLUMNS
        assert len(sheet) == len(clin) == len(truth) == n
        assert set(sheet["center"]) == centres
        assert sheet["patient_id"].is_unique
        assert all(ID_PATTERN.match(p) for p in sheet["patient_id"])
        assert list(sheet["patient_id"]) == list(clin["patient_id"]) == list(truth["patient_id"])
        for _, row in sheet.iterrows():
            for phase in ("arterial", "venous"):
                img = root / row[f"{phase}_image"]
                assert not Path(row[f"{phase}_image"]).is_absolute()
                assert img.is_dir() and sorted(img.glob("IM*.dcm"))[0].name == "IM00001.dcm"
                assert (root / row[f"{phase}_mask"]).is_file()
    ids = _read(tiny_demo / "patients.tsv")["patient_id"]
    assert ids.iloc[0] == "A001" and f"B{sc.n_b:03d}" in set(ids)
    assert _read(expr / "patients.tsv")["patient_id"].iloc[0] == "T001"

    samples = _read(expr / "samples.tsv")
    counts = _read(expr / "counts.tsv")
    assert list(samples.columns) == ["sample_id", "patient_id"]
    assert counts.columns[0] == "gene" and list(counts.columns[1:]) == list(samples["sample_id"])
    assert set(samples["patient_id"]) == set(_read(expr / "patients.tsv")["patient_id"])
    assert all(pd.api.types.is_integer_dtype(counts[c]) for c in counts.columns[1:])
    assert list(_read(expr / "planted_pathways.tsv").columns) == ["endpoint", "term", "direction"]
    assert list(_read(expr / "planted_immune.tsv").columns) == ["endpoint", "cell_type",
                                                                "direction"]


def test_mask_formats_mixed(tiny_demo):
    masks = _read(tiny_demo / "patients.tsv")["arterial_mask"]
    assert masks.str.endswith(".nii.gz").any() and masks.str.endswith(".seg.nrrd").any()


def test_readme_states_outcome_model(tiny_demo):
    text = (tiny_demo / "README.md").read_text()
    for needle in ("eta_R", "eta_OS", "Weibull", "oracle", "HALLMARK_HYPOXIA"):
        assert needle.lower() in text.lower()


def test_same_seed_is_byte_identical(tiny_demo, tmp_path):
    again = tmp_path / "again"
    generate_demo(again, seed=1, scale="tiny", images=True, workers=1)
    first, second = _digest(tiny_demo), _digest(again)
    assert first.keys() == second.keys()
    assert first == second


def test_different_seed_differs(tiny_demo, tmp_path):
    other = tmp_path / "other"
    generate_demo(other, seed=2, scale="tiny", images=False)
    a = _read(tiny_demo / "clinical.tsv")
    b = _read(other / "clinical.tsv")
    assert not a.equals(b)
    assert not np.allclose(_read(tiny_demo / "truth.tsv")["true_os_lp"],
                           _read(other / "truth.tsv")["true_os_lp"])


def test_patient_independent_of_cohort_size(tiny_demo, tiny_demo_tables):
    """A patient's latent state and truth do not change with the number of patients."""
    a = _read(tiny_demo / "truth.tsv").set_index("patient_id")
    b = _read(tiny_demo_tables / "truth.tsv").set_index("patient_id").loc[a.index]
    pd.testing.assert_frame_equal(a, b)
    rec = simulate_patient(1, "B", 3, SCALES["tiny"])
    assert rec.truth.os_lp == pytest.approx(a.loc["B004", "true_os_lp"], abs=1e-5)


def test_tables_do_not_depend_on_images(tiny_demo, tmp_path):
    out = tmp_path / "noimg"
    generate_demo(out, seed=1, scale="tiny", images=False)
    for name in ("clinical.tsv", "truth.tsv", "patients.tsv", "expression/counts.tsv"):
        assert (out / name).read_bytes() == (tiny_demo / name).read_bytes()
    assert not (out / "images").exists()


def test_refuses_foreign_folder(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate_demo(tmp_path, seed=0, scale="tiny", images=False)
    assert (tmp_path / "precious.txt").exists()
