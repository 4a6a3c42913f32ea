"""Cohort assembly and endpoint targets; also the shared synthetic-table builder of the modelling
tests (:func:`modelling_tables`, imported by test_split.py and test_models.py)."""

from __future__ import annotations

import atexit
import functools
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hccfusion.cohort import assemble, endpoint_target
from hccfusion.split import make_split

OUTCOMES = ["mrecist_3m", "response_3m", "os_days", "os_event", "pfs_days", "pfs_event"]
CFG = {
    "endpoints": {
        "response": {"type": "binary", "event": "response_3m"},
        "os": {"type": "survival", "time": "os_days", "event": "os_event"},
        "pfs": {"type": "survival", "time": "pfs_days", "event": "pfs_event"},
    },
    "split": {"development_center": "A", "external_center": "B", "internal_fraction": 0.3,
              "stratify_by": "response_3m", "seed": 42},
    "preprocessing": {"max_missing_fraction": 0.3, "variance_threshold_binary": 0.01,
                      "variance_threshold_survival": 0.1},
    "clinical": {"exclude": ["patient_id", "center", *OUTCOMES, "subsequent_therapy"]},
    "cv_folds": 5,
    "bootstrap": {"n": 200, "seed": 7},
    "audit": {"permute_training_outcomes": False},
    # Small grids keep the test suite fast; the workflow uses the defaults.
    "models": {"Cs": [0.01, 0.1, 1.0, 10.0], "inner_folds": 3, "n_alphas": 12, "max_iter": 1000},
}


def _self_built_clinical(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stand-in for the demo generator: a compact clinical table with outcomes simulated from
    known linear predictors (used only when ``hccfusion.demo`` is not importable)."""
    rng = np.random.default_rng(seed)
    n_a, n_b = 100, 60
    n = n_a + n_b
    ids = [f"A{i:03d}" for i in range(1, n_a + 1)] + [f"B{i:03d}" for i in range(1, n_b + 1)]
    z = rng.normal(size=(n, 4))
    clin = pd.DataFrame({
        "patient_id": ids, "center": ["A"] * n_a + ["B"] * n_b,
        "age": rng.normal(58, 10, n).round(), "sex": rng.choice(["M", "F"], n, p=[0.85, 0.15]),
        "hbv": rng.integers(0, 2, n), "albi": -2.3 + 0.5 * z[:, 0],
        "pni": 45 + 6 * z[:, 1], "monocytes_change": 0.1 * z[:, 2],
        "tumour_diameter_mm": np.exp(4 + 0.4 * z[:, 3]),
        "ldh_u_l": np.where(rng.random(n) < 0.4, np.nan, rng.normal(220, 60, n)),
        "treatment": rng.choice(["TACE", "HAIC", "TACE+HAIC"], n),
    })
    resp_lp = -0.1 - 1.0 * z[:, 3] + 0.8 * z[:, 1] + rng.normal(0, 0.8, n)
    prob = 1 / (1 + np.exp(-resp_lp))
    os_lp = 0.55 * z[:, 0] + 0.7 * z[:, 2] + rng.normal(0, 0.6, n)
    pfs_lp = 0.5 * os_lp + 0.45 * z[:, 3]
    clin["response_3m"] = (rng.random(n) < prob).astype(int)
    clin["mrecist_3m"] = np.where(clin["response_3m"] == 1, "PR", "SD")
    for name, lp, scale in (("os", os_lp, 930.0), ("pfs", pfs_lp, 400.0)):
        t = scale * rng.exponential(size=n) * np.exp(-lp)
        c = rng.uniform(300, 2000, n)
        clin[f"{name}_days"] = np.maximum(1, np.round(np.minimum(t, c))).astype(int)
        clin[f"{name}_event"] = (t <= c).astype(int)
    truth = pd.DataFrame({"patient_id": ids, "true_response_prob": prob, "true_os_lp": os_lp,
                          "true_pfs_lp": pfs_lp})
    return clin, truth


def _demo_clinical(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    try:
        from hccfusion.demo import generate_demo
    except ImportError:
        return _self_built_clinical(seed)
    out = Path(tempfile.mkdtemp(prefix="hccfusion_models_"))
    atexit.register(shutil.rmtree, out, True)
    generate_demo(out / "demo", seed=seed, scale="default", images=False)
    clin = pd.read_csv(out / "demo" / "clinical.tsv", sep="\t", dtype={"patient_id": str})
    truth = pd.read_csv(out / "demo" / "truth.tsv", sep="\t", dtype={"patient_id": str})
    return clin, truth


@functools.cache
def modelling_tables(seed: int = 3, n_noise: int = 120) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                  pd.DataFrame]:
    """(clinical, radiomics, truth) for the modelling tests.

    Clinical and truth: the demo cohort (``generate_demo(seed, "default", images=False)``: 100
    patients in centre A, 60 in centre B) when available, else :func:`_self_built_clinical`.
    Radiomics (built here, the demo has no feature table without images): 4 response features
    = logit(true_response_prob) + N(0, 0.7) noise and 4 survival features = true_os_lp + noise,
    each mapped to arbitrary raw units (scale and offset); ``n_noise`` pure-noise lognormal
    features of varied scale; one constant feature and one 60 %-missing feature that
    preprocessing must drop. Names follow PyRadiomics with a phase prefix.
    """
    clin, truth = _demo_clinical(seed)
    truth = truth.set_index("patient_id").loc[clin["patient_id"]]
    rng = np.random.default_rng(1000 + seed)
    n = len(clin)
    p = truth["true_response_prob"].to_numpy()
    resp = np.log(p / (1 - p))
    resp = (resp - resp.mean()) / resp.std()
    os_lp = truth["true_os_lp"].to_numpy()
    os_lp = (os_lp - os_lp.mean()) / os_lp.std()
    cols = {"patient_id": clin["patient_id"].to_numpy()}
    for j in range(4):
        a, b = np.exp(rng.normal(1, 2, 2))
        cols[f"arterial_original_shape_Signal{j}"] = a * (resp + rng.normal(0, 0.7, n)) + 5 * a
        cols[f"venous_original_glcm_Signal{j}"] = b * (os_lp + rng.normal(0, 0.7, n)) + 5 * b
    for j in range(n_noise):
        phase = "arterial" if j % 2 == 0 else "venous"
        cols[f"{phase}_wavelet-LLH_glszm_Noise{j}"] = rng.lognormal(rng.normal(0, 2), 0.5, n)
    cols["venous_original_firstorder_Constant"] = np.full(n, 3.0)
    mostly_missing = rng.normal(size=n)
    mostly_missing[rng.random(n) < 0.6] = np.nan
    cols["arterial_original_firstorder_MostlyMissing"] = mostly_missing
    return clin, pd.DataFrame(cols), truth.reset_index()


def small_tables():
    clin, rad, _ = modelling_tables()
    return clin.copy(), rad.iloc[:, :12].copy()


def test_assemble_merges_and_splits_blocks():
    clin, rad = small_tables()
    split = make_split(clin, CFG)
    cohort = assemble(clin, rad.sample(frac=1.0, random_state=0), split)
    assert list(cohort.data.index) == list(clin["patient_id"])
    assert set(cohort.data["cohort"]) == {"train", "internal", "external"}
    clin_cols = cohort.block_columns("clinical", CFG["clinical"]["exclude"])
    assert "age" in clin_cols and "os_days" not in clin_cols and "center" not in clin_cols
    assert cohort.block_columns("radiomics") == list(rad.columns[1:])
    assert all(c.startswith("venous_") for c in cohort.block_columns("venous"))
    row = rad.set_index("patient_id").iloc[5]
    np.testing.assert_allclose(cohort.data.loc[row.name, rad.columns[1:]].astype(float), row)
    # Categorical strings stay categorical, numbers are float.
    assert cohort.data["treatment"].dtype == object
    assert cohort.data["age"].dtype == float


def test_assemble_names_unmatched_patients():
    clin, rad = small_tables()
    split = make_split(clin, CFG)
    missing = clin["patient_id"].iloc[7]
    with pytest.raises(ValueError, match=f"in clinical but not in radiomics: {missing}"):
        assemble(clin, rad[rad.patient_id != missing], split)
    extra = rad.iloc[[0]].assign(patient_id="ZZ999")
    with pytest.raises(ValueError, match="in radiomics but not in clinical: ZZ999"):
        assemble(clin, pd.concat([rad, extra]), split)


def test_assemble_rejects_duplicated_ids():
    clin, rad = small_tables()
    split = make_split(clin, CFG)
    dup = rad.iloc[[3]]
    with pytest.raises(ValueError, match=f"duplicated patient_id in radiomics table: "
                                         f"{dup.patient_id.iloc[0]}"):
        assemble(clin, pd.concat([rad, dup]), split)


def test_non_numeric_lab_names_column_and_patient():
    clin, rad = small_tables()
    split = make_split(clin, CFG)
    pid = clin["patient_id"].iloc[4]
    clin["afp_ng_ml"] = clin["afp_ng_ml"].astype(object)
    clin.loc[4, "afp_ng_ml"] = "12,5"
    with pytest.raises(ValueError, match=rf"afp_ng_ml.*{pid}='12,5'"):
        assemble(clin, rad, split)
    col = rad.columns[3]
    rad[col] = rad[col].astype(object)
    rad.loc[2, col] = "n/a"
    clin.loc[4, "afp_ng_ml"] = 12.5
    with pytest.raises(ValueError, match=rf"radiomics column '{col}'.*{rad.patient_id[2]}"):
        assemble(clin, rad, split)


def _frame(**cols):
    return pd.DataFrame(cols, index=pd.Index([f"P{i}" for i in range(len(next(iter(
        cols.values()))))], name="patient_id"))


def test_endpoint_target_binary_and_survival():
    df = _frame(r=[1, 0, 1, np.nan], t=[10.0, 20.0, np.nan, 5.0], e=[1, 0, 1, 0])
    b = endpoint_target(df, {"type": "binary", "event": "r"})
    assert b.y.dtype.kind == "i" and list(b.y) == [1, 0, 1]
    assert list(b.dropped) == ["P3"] and b.n_events == 2
    s = endpoint_target(df, {"type": "survival", "time": "t", "event": "e"})
    assert s.y.dtype.names == ("event", "time")
    assert list(s.index) == ["P0", "P1", "P3"] and list(s.dropped) == ["P2"]
    np.testing.assert_array_equal(s.y["time"], [10.0, 20.0, 5.0])
    assert s.n_events == 1


def test_endpoint_target_reports_dropped(caplog):
    df = _frame(r=[1, np.nan, 0, 1, 0])
    with caplog.at_level(logging.WARNING, logger="hccfusion.cohort"):
        tgt = endpoint_target(df, {"type": "binary", "event": "r"})
    assert list(tgt.dropped) == ["P1"]
    assert "1 patient(s) without outcome dropped: P1" in caplog.text


@pytest.mark.parametrize(
    ("cols", "pattern"),
    [
        ({"t": [10.0, 0.0, 3.0], "e": [1, 0, 1]}, r"'t' must be > 0.*P1=0"),
        ({"t": [10.0, -4.0, 3.0], "e": [1, 0, 1]}, r"'t' must be > 0.*P1=-4"),
        ({"t": [10.0, 4.0, 3.0], "e": [1, 2, 1]}, r"'e' must be 0/1.*P1=2"),
        ({"t": [10.0, "ten", 3.0], "e": [1, 0, 1]}, r"'t' has non-numeric values.*P1='ten'"),
        ({"t": [10.0, 4.0, 3.0]}, r"outcome column 'e' is missing"),
    ],
)
def test_endpoint_target_errors_name_column_and_patient(cols, pattern):
    with pytest.raises(ValueError, match=pattern):
        endpoint_target(_frame(**cols), {"type": "survival", "time": "t", "event": "e"})


def test_binary_outcome_must_be_01():
    with pytest.raises(ValueError, match=r"'r' must be 0/1.*P2=3"):
        endpoint_target(_frame(r=[0, 1, 3]), {"type": "binary", "event": "r"})
