"""Per-job feature rows merge into one table; an excluded phase excludes the whole patient."""

import pandas as pd

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
