"""The deep-learning branch as the workflow runs it: crops on disk with exclusions, the feature
table of block `deep`, DL-radiomics correlations, Grad-CAM sampling."""

import json

import numpy as np
import pandas as pd
import pytest

from hccfusion.deep.branch import (
    feature_table,
    gradcam_patients,
    radiomics_correlation,
    read_crops,
)
from hccfusion.deep.crops import save_crop


def _write(tmp_path, patient, status="ok", reason=""):
    crop, js = tmp_path / f"{patient}.npz", tmp_path / f"{patient}.json"
    if status == "ok":
        save_crop(crop, np.full((2, 4, 4, 4), 0.5, dtype=np.float32), patient=patient)
    else:
        crop.write_bytes(b"")
    js.write_text(json.dumps({"patient_id": patient, "status": status, "reason": reason}))
    return str(crop), str(js)


def test_read_crops_lists_exclusions_and_names_missing(tmp_path):
    files = [_write(tmp_path, "A001"), _write(tmp_path, "A002", "excluded", "mask is empty"),
             _write(tmp_path, "B001")]
    crops, gone = read_crops([f[0] for f in files], [f[1] for f in files],
                             ["A001", "A002", "B001"])
    assert set(crops) == {"A001", "B001"} and crops["A001"].shape == (2, 4, 4, 4)
    assert gone.to_dict("records") == [{"patient_id": "A002", "reason": "mask is empty"}]
    # Patients outside the split are ignored; a split patient without a file is an error.
    crops, _ = read_crops([f[0] for f in files], [f[1] for f in files], ["A001"])
    assert set(crops) == {"A001"}
    with pytest.raises(ValueError, match="no crop file for split patients C009"):
        read_crops([f[0] for f in files], [f[1] for f in files], ["A001", "C009"])


def test_feature_table_logits_and_missing_rows():
    pred = pd.DataFrame({"patient_id": ["A001", "B001"], "fold": ["1", "full"],
                         "risk_os": [0.3, -0.2], "prob_response": [0.5, 0.9],
                         "emb_0": [1.0, 2.0]})
    table = feature_table(pred, ["A001", "A002", "B001"])
    assert list(table.columns) == ["patient_id", "deep_risk_os", "deep_logit_response"]
    assert table.deep_logit_response.iloc[0] == pytest.approx(0.0)
    assert table.deep_logit_response.iloc[2] == pytest.approx(np.log(9))
    assert table.iloc[1, 1:].isna().all()  # the excluded patient keeps a NaN row
    with_emb = feature_table(pred, ["A001", "B001"], embeddings=True)
    assert "deep_emb_0" in with_emb.columns


def test_radiomics_correlation_finds_the_linked_feature():
    rng = np.random.default_rng(0)
    ids = [f"P{i:03d}" for i in range(80)]
    risk = rng.normal(size=80)
    deep = pd.DataFrame({"patient_id": ids, "deep_risk_os": risk})
    radiomics = pd.DataFrame({"patient_id": ids, "venous_linked": np.exp(risk + rng.normal(
        0, 0.3, 80)), **{f"noise{j}": rng.normal(size=80) for j in range(30)}})
    table = radiomics_correlation(deep, radiomics, ids[:60], top=5)
    assert len(table) == 5 and table.radiomics_feature.iloc[0] == "venous_linked"
    assert table.rho.iloc[0] > 0.8 and table.padj.iloc[0] < 1e-10
    assert (table.n == 60).all()  # training patients only


def test_gradcam_sample_is_seeded_and_per_cohort():
    split = pd.DataFrame({"patient_id": [f"A{i}" for i in range(10)] + ["B1", "B2"],
                          "cohort": ["train"] * 7 + ["internal"] * 3 + ["external"] * 2})
    first = gradcam_patients(split, list(split.patient_id), 2, seed=3)
    assert first == gradcam_patients(split, list(split.patient_id), 2, seed=3)
    assert [c for c, _ in first] == ["train", "train", "internal", "internal", "external",
                                     "external"]
    assert gradcam_patients(split, ["A1"], 2, seed=3) == [("train", "A1")]
