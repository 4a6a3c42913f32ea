"""Per-job feature rows merge into one table; an excluded phase excludes the whole patient.
A user's own feature table is checked cell by cell."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccfusion.feature_table import merge, write_row


def test_merge_with_exclusion(tmp_path):
    paths = []
    for pid, phase, value in [("A1", "arterial", 1.0), ("A1", "venous", 2.0),
                              ("A2", "arterial", 3.0), ("A2", "venous", None),
                              ("A3", "arterial", 5.0), ("A3", "venous", 6.0)]:
        path = tmp_path / f"{pid}_{phase}.tsv"
        feats = None if value is None else pd.Series({f"{phase}_f": value, f"{phase}_g": value * 10})
        write_row(path, pid, phase, feats, reason="mask is empty")
        paths.append(path)
    features, excluded = merge(paths, ["arterial", "venous"])
    assert list(features.patient_id) == ["A1", "A3"]
    assert list(features.columns) == ["patient_id", "arterial_f", "arterial_g", "venous_f", "venous_g"]
    assert features.set_index("patient_id").loc["A3", "venous_g"] == 60.0
    assert excluded.to_dict("records") == [{"patient_id": "A2", "reason": "venous: mask is empty"}]
    # A phase excluded because another phase failed is reported against that phase, once.
    write_row(tmp_path / "A2_arterial.tsv", "A2", "venous", None, reason="mask is empty")
    assert merge(paths, ["arterial", "venous"])[1].to_dict("records") == [
        {"patient_id": "A2", "reason": "venous: mask is empty"}]


# --- a user's own feature table (config feature_table) ------------------------------------------
def _user_table(tmp_path, rows: dict) -> Path:
    path = tmp_path / "features.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def test_user_feature_table_is_checked(tmp_path):
    from hccfusion.errors import TableError
    from hccfusion.feature_table import load_user_table

    good = _user_table(tmp_path, {"patient_id": ["B2", "A1"], "f1": [1.5, ""], "f2": [3, 4]})
    table = load_user_table(good, ["A1", "B2"])
    assert list(table.patient_id) == ["A1", "B2"] and np.isnan(table.f1[0])
    cases = [
        ({"id": ["A1"], "f1": [1]}, "no 'patient_id' column"),
        ({"patient_id": ["A1", "A1"], "f1": [1, 2]}, "duplicated patient_id A1"),
        ({"patient_id": ["A1", "x;rm"], "f1": [1, 2]}, r"row 3 \('x;rm'\)"),
        ({"patient_id": ["A1", "B2"], "f1": [1, "high"]},
         r"row 3 \(patient B2\), column 'f1': 'high'"),
        ({"patient_id": ["A1", "Z9"], "f1": [1, 2]},
         "patients not in the clinical table: Z9; clinical patients without features: B2"),
        ({"patient_id": ["A1", "B2"]}, "no feature column"),
    ]
    for rows, message in cases:
        with pytest.raises(TableError, match=message):
            load_user_table(_user_table(tmp_path, rows), ["A1", "B2"])


def test_branch_exclusions_join_the_cohort_list(tmp_path):
    """A deep-crop exclusion removes the patient from the features and lists it once, with the
    branch's reason; a patient already excluded by the radiomics jobs keeps its first reason."""
    import json

    from hccfusion.feature_table import add_branch_exclusions

    paths = []
    for pid, phase, value in [("A1", "arterial", 1.0), ("A2", "arterial", None),
                              ("A3", "arterial", 3.0)]:
        path = tmp_path / f"{pid}_{phase}.tsv"
        feats = None if value is None else pd.Series({f"{phase}_f": value})
        write_row(path, pid, phase, feats, reason="mask is empty")
        paths.append(path)
    features, excluded = merge(paths, ["arterial"])
    statuses = []
    for pid, status, reason in [("A1", "ok", ""), ("A2", "excluded", "arterial: mask is empty"),
                                ("A3", "excluded", "deep-learning crop: 70 % outside")]:
        path = tmp_path / f"{pid}.json"
        path.write_text(json.dumps({"patient_id": pid, "status": status, "reason": reason}))
        statuses.append(path)
    features, excluded = add_branch_exclusions(features, excluded, statuses)
    assert list(features.patient_id) == ["A1"]
    assert excluded.to_dict("records") == [
        {"patient_id": "A2", "reason": "arterial: mask is empty"},
        {"patient_id": "A3", "reason": "deep-learning crop: 70 % outside"}]
