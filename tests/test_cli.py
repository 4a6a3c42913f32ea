"""The hccfusion command line on real data: extract, and errors that name the file."""

from pathlib import Path

import pandas as pd
import pytest

from hccfusion.cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
STS = SHARED / "real_ct" / "sts_ct" / "STS_008"  # the smallest tumour: a quick test


@pytest.fixture
def need_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")


def test_extract_real_ct(tmp_path, need_shared):
    out = tmp_path / "f.tsv"
    assert main(["extract", "--image", str(STS / "CT_image.nii.gz"), "--mask",
                 str(STS / "CT_mask.nii.gz"), "--prefix", "arterial_", "--out", str(out)]) == 0
    table = pd.read_csv(out, sep="\t", index_col="feature")["value"]
    assert len(table) == 944
    assert table.index.str.startswith("arterial_").all()
    assert table["arterial_original_shape_MeshVolume"] > 1000


def test_extract_demo_dicom_equals_workflow_settings(tmp_path, tiny_demo):
    """A DICOM folder goes through ingest's reader; NRRD and NIfTI masks both work."""
    sheet = pd.read_csv(tiny_demo / "patients.tsv", sep="\t").set_index("patient_id")
    for pid in sheet.index[:2]:
        out = tmp_path / f"{pid}.tsv"
        code = main(["extract", "--image", str(tiny_demo / sheet.loc[pid, "arterial_image"]),
                     "--mask", str(tiny_demo / sheet.loc[pid, "arterial_mask"]),
                     "--out", str(out)])
        assert code == 0
        table = pd.read_csv(out, sep="\t", index_col="feature")["value"]
        assert len(table) == 944
        # Arterial hyper-enhancement of the tumour is visible to first-order features.
        assert 60 < table["original_firstorder_Mean"] < 250


def test_extract_bad_mask_names_the_file(tmp_path, capsys, need_shared):
    empty = tmp_path / "empty.nii.gz"
    import SimpleITK as sitk

    mask = sitk.ReadImage(str(STS / "CT_mask.nii.gz")) * 0
    sitk.WriteImage(mask, str(empty))
    code = main(["extract", "--image", str(STS / "CT_image.nii.gz"), "--mask", str(empty)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "empty" in err


def test_predict_without_a_model_directory_names_it(tmp_path, capsys):
    absent = tmp_path / "no_models"
    code = main(["predict", "--models", str(absent), "--features", "f.tsv", "--clinical", "c.tsv"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("hccfusion predict: error:") and f"{absent}: no manifest.json" in err


def test_extract_follows_the_config(tmp_path, tiny_demo):
    """--config applies the workflow's preparation: per-lesion features, native grid."""
    sheet = pd.read_csv(tiny_demo / "patients.tsv", sep="\t").set_index("patient_id")
    pid = sheet.index[0]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("segmentation: {components: per_lesion}\nradiomics: {spacing_mm: null}\n")
    args = ["extract", "--image", str(tiny_demo / sheet.loc[pid, "venous_image"]),
            "--mask", str(tiny_demo / sheet.loc[pid, "venous_mask"])]
    assert main([*args, "--config", str(cfg), "--out", str(tmp_path / "a.tsv")]) == 0
    assert main([*args, "--out", str(tmp_path / "b.tsv")]) == 0
    a = pd.read_csv(tmp_path / "a.tsv", sep="\t", index_col="feature")["value"]
    b = pd.read_csv(tmp_path / "b.tsv", sep="\t", index_col="feature")["value"]
    assert a["original_lesions_Count"] >= 1 and "original_lesions_Count" not in b
    assert a["original_shape_VoxelVolume"] != b["original_shape_VoxelVolume"]
