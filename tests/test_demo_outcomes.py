"""Demo cohort: the outcome model reproduces its truth; oracle performance is in range."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.utils import concordance_index
from sklearn.metrics import roc_auc_score

from hccfusion.demo import SCALES
from hccfusion.demo.cohort import clinical_frame, simulate_centre, truth_frame
from hccfusion.demo.oracle import oracle_metrics

LARGE_N = 2500


@pytest.fixture(scope="module")
def large():
    """A large table-only sample per centre (no geometry: the oracle needs none)."""
    out = {}
    for centre in ("A", "B"):
        recs = simulate_centre(7, centre, LARGE_N, SCALES["default"], geometry=False)
        out[centre] = clinical_frame(recs).merge(truth_frame(recs), on="patient_id")
    return out


@pytest.fixture(scope="module")
def tables(tiny_demo_tables):
    clin = pd.read_csv(tiny_demo_tables / "clinical.tsv", sep="\t")
    truth = pd.read_csv(tiny_demo_tables / "truth.tsv", sep="\t")
    return clin.merge(truth, on="patient_id")


def test_response_calibrated(tables, large):
    for df in (tables, large["B"]):
        p = df["true_response_prob"]
        se = np.sqrt(np.sum(p * (1 - p))) / len(p)
        assert abs(df["response_3m"].mean() - p.mean()) < 3 * se + 1e-9
    # Calibration slope of the logit: ~1 on the large sample.
    df = pd.concat(large.values())
    logit = np.log(df["true_response_prob"] / (1 - df["true_response_prob"]))
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e6).fit(logit.to_frame(), df["response_3m"])
    assert fit.coef_[0, 0] == pytest.approx(1.0, abs=0.12)


def test_cox_recovers_os_predictor(large):
    df = pd.concat(large.values())[["os_days", "os_event", "true_os_lp"]].astype(float)
    cph = CoxPHFitter().fit(df, duration_col="os_days", event_col="os_event")
    lo, hi = cph.confidence_intervals_.loc["true_os_lp"]
    assert lo <= 1.0 <= hi
    assert cph.params_["true_os_lp"] == pytest.approx(1.0, abs=0.1)


def test_cox_on_generated_cohort(tables):
    df = tables[["os_days", "os_event", "true_os_lp"]].astype(float)
    cph = CoxPHFitter().fit(df, duration_col="os_days", event_col="os_event")
    lo, hi = cph.confidence_intervals_.loc["true_os_lp"]
    assert lo < 1.0 < hi


@pytest.mark.parametrize("centre", ["A", "B"])
def test_oracle_in_target_range(large, centre):
    df = large[centre]
    m = oracle_metrics(df.drop(columns=["true_response_prob", "true_os_lp", "true_pfs_lp"]),
                       df[["patient_id", "true_response_prob", "true_os_lp", "true_pfs_lp"]])
    assert 0.80 <= m[centre]["auc"] <= 0.92
    assert 0.70 <= m[centre]["cindex"] <= 0.85


def test_follow_up_and_survival_shape(large):
    from lifelines import KaplanMeierFitter

    df = pd.concat(large.values())
    km = KaplanMeierFitter().fit(df["os_days"], df["os_event"])
    assert 450 <= km.median_survival_time_ <= 800  # seed 001: 596 and 627 days
    pfs = KaplanMeierFitter().fit(df["pfs_days"], df["pfs_event"])
    assert pfs.median_survival_time_ < km.median_survival_time_
    assert (df["os_days"] <= 2100).all()  # enrolment from 2020-01, end of follow-up 2025-09
    assert 0.05 < 1 - df["os_event"].mean() < 0.6
    assert df["pfs_days"].le(df["os_days"]).all()


def test_responder_paradox(tables, large):
    """Response follows tumour geometry, survival follows systemic factors."""
    df = pd.concat(large.values())
    assert abs(np.corrcoef(np.log(df["true_response_prob"] / (1 - df["true_response_prob"])),
                           df["true_os_lp"])[0, 1]) < 0.35
    ok = df.dropna(subset=["monocytes_change"])
    assert concordance_index(ok["os_days"], -ok["monocytes_change"], ok["os_event"]) > 0.57
    assert roc_auc_score(df["response_3m"], -df["monocytes_change"].fillna(0)) < 0.56
    # Smaller lesions respond (diameter only exists with geometry: use the generated cohort).
    t = tables.dropna(subset=["response_3m"])
    auc_size = roc_auc_score(t["response_3m"], -t["tumour_diameter_mm"])
    assert auc_size > 0.6
    assert concordance_index(t["os_days"], -t["tumour_diameter_mm"], t["os_event"]) < auc_size
