"""The checklist is filled from a run's files (small synthetic run)."""

import json
from dataclasses import replace

import pandas as pd
import pytest
import yaml

from hccfusion.checklist import (
    AUTHORS,
    CLEAR_ITEMS,
    TRIPOD_AI_ITEMS,
    fill_checklist,
    imaging_protocol,
    load_provenance,
    to_markdown,
)


@pytest.fixture
def run(tmp_path):
    cfg = yaml.safe_load(open("config/config.yaml"))
    pd.DataFrame({"patient_id": ["A1", "A2", "A3", "B1"], "center": ["A", "A", "A", "B"],
                  "cohort": ["train", "train", "internal", "external"]}).to_csv(
        tmp_path / "splits.tsv", sep="\t", index=False)
    pd.DataFrame({"patient_id": ["A9"], "reason": ["empty mask: 0 voxels"]}).to_csv(
        tmp_path / "excluded.tsv", sep="\t", index=False)
    qc = pd.DataFrame({
        "patient_id": ["A1", "A2", "A3", "B1"], "phase": "arterial",
        "acquisition_manufacturer": ["SIEMENS", "SIEMENS", "SIEMENS", "GE"],
        "acquisition_kvp": [120.0, 100.0, 120.0, 120.0],
        "acquisition_slice_thickness_mm": [5.0, 5.0, 3.0, 1.25],
        "acquisition_spacing_mm": ["[0.7, 0.7, 5.0]"] * 4})
    qc.to_csv(tmp_path / "qc.tsv", sep="\t", index=False)
    pd.DataFrame({"feature": ["f1", "f2", "f3"], "icc": [0.9, 0.5, 0.8],
                  "kept": [True, False, True]}).to_csv(tmp_path / "rob.tsv", sep="\t",
                                                       index=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "imageType": {"Original": {}, "LoG": {"sigma": [4.0]}},
        "featureClass": {"shape": None, "glcm": None}, "setting": {"binWidth": 25}}))
    pd.DataFrame({"patient_id": ["A1"], "arterial_a": [1.0], "venous_b": [2.0]}).to_csv(
        tmp_path / "rad.tsv", sep="\t", index=False)
    models = tmp_path / "model_files"
    models.mkdir()
    (models / "manifest.json").write_text(json.dumps({"versions": {"hccfusion": "0.1.0"}}))
    pd.DataFrame({"recipe": ["PRIME-R"], "endpoint": ["response"], "block": ["clinical"],
                  "learner": ["bagging"], "metric": ["auc"], "mean": [0.7], "sd": [0.1],
                  "params": ["{}"], "chosen": [True]}).to_csv(tmp_path / "alg.tsv", sep="\t",
                                                             index=False)
    pd.DataFrame({"recipe": ["PRIME-R"], "component": ["fusion"], "endpoint": ["response"],
                  "cohort": ["external"], "metric": ["auc"], "estimate": [0.812],
                  "ci_lower": [0.7], "ci_upper": [0.9], "n": [60], "n_events": [25]}).to_csv(
        tmp_path / "perf.tsv", sep="\t", index=False)
    prov = load_provenance(
        cfg, splits=tmp_path / "splits.tsv", excluded=tmp_path / "excluded.tsv",
        imaging_qc=tmp_path / "qc.tsv", robustness=tmp_path / "rob.tsv",
        radiomics_params=tmp_path / "params.yaml", radiomics=tmp_path / "rad.tsv",
        manifests=[models], algorithms=[tmp_path / "alg.tsv"], performance=tmp_path / "perf.tsv")
    return prov


def _item(items, guideline, number):
    return next(i for i in items if i.guideline == guideline and i.number == str(number))


def test_every_item_numbered_once(run):
    items = fill_checklist(run)
    assert [i.number for i in items if i.guideline == "CLEAR"] == [str(n) for n, *_ in
                                                                   CLEAR_ITEMS]
    assert len(CLEAR_ITEMS) == 58
    assert [i.number for i in items if i.guideline == "TRIPOD+AI"] == [
        n for n, *_ in TRIPOD_AI_ITEMS]
    assert _item(items, "CLEAR", 1).text == AUTHORS  # the title is the authors'


def test_items_filled_from_the_run(run):
    items = fill_checklist(run)
    assert "train n = 2" in _item(items, "CLEAR", 15).text
    assert "external n = 1 (centre B)" in _item(items, "CLEAR", 15).text
    assert "1 patients excluded" in _item(items, "CLEAR", 45).text
    assert "empty mask (1)" in _item(items, "CLEAR", 45).text
    assert "2 of 3 kept" in _item(items, "CLEAR", 31).text
    assert "fixed bin width 25" in _item(items, "CLEAR", 23).text
    assert "LoG {'sigma': [4.0]}" in _item(items, "CLEAR", 24).text
    assert "2 radiomics features" in _item(items, "CLEAR", 27).text
    assert "bagging" in _item(items, "CLEAR", 34).text
    assert "0.812 (95% CI 0.700-0.900" in _item(items, "TRIPOD+AI", "23a").text
    assert "model_files" in _item(items, "CLEAR", 57).text
    assert _item(items, "TRIPOD+AI", "21").text.startswith("PRIME-R response external: n = 60")


def test_imaging_protocol_from_dicom_columns(run):
    protocol = imaging_protocol(run.imaging_qc, run.splits)
    assert list(protocol.columns) == ["centre A, arterial (n = 3)", "centre B, arterial (n = 1)"]
    assert protocol.loc["Manufacturer", "centre A, arterial (n = 3)"] == "SIEMENS (3)"
    assert protocol.loc["Slice thickness (mm)", "centre B, arterial (n = 1)"] == "1.25"
    md = to_markdown(fill_checklist(run), protocol)
    assert "| 16 | Data |" in md and "SIEMENS (3)" in md


def test_missing_files_leave_items_to_the_authors(tmp_path):
    cfg = yaml.safe_load(open("config/config.yaml"))
    items = fill_checklist(load_provenance(cfg, splits=tmp_path / "absent.tsv"))
    assert _item(items, "CLEAR", 16).text == AUTHORS
    assert _item(items, "CLEAR", 47).text == AUTHORS
    assert not _item(items, "CLEAR", 15).filled


def test_texts_follow_the_config(run):
    """Statements the config can make false are built from it: split stratification, late
    fusion, calibration statistics per endpoint type."""
    items = fill_checklist(run)
    assert "stratified by the outcome response_3m" in _item(items, "TRIPOD+AI", "13").text
    assert "Hosmer-Lemeshow" in _item(items, "CLEAR", 39).text
    assert "IBSI-aligned" not in _item(items, "CLEAR", 25).text
    assert "Z-score standardisation (training mean and SD)" in _item(items, "CLEAR", 32).text

    cfg = dict(run.config, split={**run.config["split"], "stratify_by": None})
    items = fill_checklist(replace(run, config=cfg))
    for guideline, number in (("TRIPOD+AI", "13"), ("CLEAR", 30), ("CLEAR", 15),
                              ("TRIPOD+AI", "12a")):
        text = _item(items, guideline, number).text
        assert "not stratified" in text and "stratified by" not in text

    cfg["split"]["stratify_by"] = "center"
    assert "stratified by center (not an outcome)" in _item(
        fill_checklist(load_provenance(cfg)), "CLEAR", 30).text

    # Survival recipes only: no response statistics, the configured late fusion.
    cfg = dict(cfg, recipes={"PRIME-S": cfg["recipes"]["PRIME-S"]},
               models={**cfg["models"], "survival_fusion": "cox"})
    items = fill_checklist(load_provenance(cfg))
    assert "Hosmer-Lemeshow" not in _item(items, "CLEAR", 39).text
    assert "observed/expected" in _item(items, "CLEAR", 39).text
    assert "ridge Cox meta-model" in _item(items, "CLEAR", 37).text
    assert "AUC" not in _item(items, "CLEAR", 37).text
