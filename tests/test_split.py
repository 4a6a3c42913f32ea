"""Stratified 7:3 development split and external centre."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from test_cohort import CFG, modelling_tables

from hccfusion.split import make_split


def _clinical():
    return modelling_tables()[0]


def test_split_proportions_and_centres():
    clin = _clinical()
    split = make_split(clin, CFG)
    assert list(split.columns) == ["patient_id", "center", "cohort"]
    assert list(split["patient_id"]) == list(clin["patient_id"])
    dev = split[split.center == "A"]
    assert set(split.loc[split.center == "B", "cohort"]) == {"external"}
    assert set(dev["cohort"]) == {"train", "internal"}
    n_int = int((dev.cohort == "internal").sum())
    assert n_int == int(np.ceil(0.3 * len(dev)))
    # Stratified: the responder fraction differs by less than one patient's worth.
    resp = clin.set_index("patient_id")["response_3m"]
    by = {c: resp.loc[dev.patient_id[dev.cohort == c]].mean() for c in ("train", "internal")}
    assert abs(by["train"] - by["internal"]) < 1.0 / n_int


def test_split_is_deterministic_and_order_free():
    clin = _clinical()
    a = make_split(clin, CFG).set_index("patient_id")["cohort"]
    shuffled = clin.sample(frac=1.0, random_state=5)
    b = make_split(shuffled, CFG).set_index("patient_id")["cohort"]
    pd.testing.assert_series_equal(a, b.loc[a.index])
    other = copy.deepcopy(CFG)
    other["split"]["seed"] = 43
    c = make_split(clin, other).set_index("patient_id")["cohort"]
    assert not a.equals(c)


def test_split_stratifies_by_survival_event():
    clin = _clinical()
    cfg = copy.deepcopy(CFG)
    cfg["split"]["stratify_by"] = "os_event"
    split = make_split(clin, cfg).set_index("patient_id")
    ev = clin.set_index("patient_id")["os_event"]
    dev = split[split.center == "A"]
    rates = [ev.loc[dev.index[dev.cohort == c]].mean() for c in ("train", "internal")]
    assert abs(rates[0] - rates[1]) < 1.0 / (dev.cohort == "internal").sum()


def test_split_refuses_tiny_class():
    clin = _clinical().copy()
    a_idx = clin.index[clin.center == "A"]
    clin.loc[a_idx, "response_3m"] = 0
    clin.loc[a_idx[:2], "response_3m"] = 1
    with pytest.raises(ValueError, match=r"cannot stratify .* by 'response_3m'.*'1': 2"):
        make_split(clin, CFG)


def test_split_rejects_unknown_centre_and_missing_column():
    clin = _clinical().copy()
    clin.loc[0, "center"] = "C"
    with pytest.raises(ValueError, match=r"\['C'\]"):
        make_split(clin, CFG)
    cfg = copy.deepcopy(CFG)
    cfg["split"]["stratify_by"] = "nope"
    with pytest.raises(ValueError, match="'nope'"):
        make_split(_clinical(), cfg)
