"""Demo cohort: clinical table types, ranges, missingness and computed indices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hccfusion.demo import SCALES
from hccfusion.demo.clinical import albi_grade

BINARY = ["hbv", "hcv", "cirrhosis", "ecog_ps", "pvtt", "extrahepatic_metastasis",
          "subsequent_therapy", "os_event", "pfs_event"]
CATEGORIES = {
    "sex": {"M", "F"}, "child_pugh_class": {"A", "B"}, "bclc": {"B", "C"},
    "treatment": {"TACE", "HAIC", "TACE+HAIC"},
    "ici": {"camrelizumab", "tislelizumab", "sintilimab"},
    "tki": {"lenvatinib", "apatinib", "donafenib"}, "mrecist_3m": {"CR", "PR", "SD", "PD"},
}


@pytest.fixture(scope="module")
def clinical(tiny_demo_tables):
    return pd.read_csv(tiny_demo_tables / "clinical.tsv", sep="\t")


@pytest.fixture(scope="module")
def matched(tiny_demo_tables):
    return pd.read_csv(tiny_demo_tables / "expression" / "clinical.tsv", sep="\t")


def test_types_and_ranges(clinical):
    for col in BINARY + ["response_3m"]:
        assert set(clinical[col].dropna().unique()) <= {0, 1}, col
    for col, allowed in CATEGORIES.items():
        assert set(clinical[col].dropna().unique()) <= allowed, col
    assert clinical["child_pugh_score"].between(5, 9).all()
    assert ((clinical["child_pugh_score"] <= 6) == (clinical["child_pugh_class"] == "A")).all()
    assert clinical["tumour_number"].isin([1, 2, 3]).all()
    lo, hi = SCALES["default"].diameter_mm  # measured between voxel centres: up to a voxel less
    assert clinical["tumour_diameter_mm"].between(lo / 2, hi).all()
    assert clinical["age"].between(18, 90).all()
    for col in ("os_days", "pfs_days"):
        assert pd.api.types.is_integer_dtype(clinical[col]) and (clinical[col] > 0).all()
    assert (clinical["pfs_days"] <= clinical["os_days"]).all()
    assert ((clinical["response_3m"] == 1) == clinical["mrecist_3m"].isin(["CR", "PR"])).all()
    bclc_c = (clinical["pvtt"] == 1) | (clinical["extrahepatic_metastasis"] == 1) | \
        (clinical["ecog_ps"] == 1)
    assert ((clinical["bclc"] == "C") == bclc_c).all()


def test_realistic_distributions(clinical):
    """Seed 001 Table 1: mostly male, HBV, ECOG 0-1, Child-Pugh A; ORR ~47-49 %; DCR ~76 %."""
    assert clinical["hbv"].mean() > 0.65
    assert (clinical["sex"] == "M").mean() > 0.7
    assert (clinical["child_pugh_class"] == "A").mean() > 0.55
    assert 0.35 < clinical["response_3m"].mean() < 0.62
    assert 0.6 < (clinical["mrecist_3m"] != "PD").mean() < 0.9
    assert 0.3 < (clinical["bclc"] == "C").mean() < 0.85
    assert 33 < clinical["albumin_g_l"].median() < 44


def test_missingness(clinical):
    frac = clinical.isna().mean()
    assert frac["ldh_u_l"] > 0.30
    others = frac.drop(["ldh_u_l"])
    assert (others < 0.10).all(), others[others >= 0.10]
    assert frac[["albumin_g_l", "bilirubin_umol_l", "ast_u_l", "afp_ng_ml"]].sum() > 0
    for col in ("patient_id", "center", "age", "sex", "tumour_diameter_mm", "os_days",
                "response_3m", "treatment"):
        assert frac[col] == 0, col


def test_computed_indices(clinical):
    ok = clinical.dropna(subset=["albumin_g_l", "bilirubin_umol_l"])
    albi = 0.66 * np.log10(ok["bilirubin_umol_l"]) - 0.085 * ok["albumin_g_l"]
    np.testing.assert_allclose(ok["albi"], albi, atol=1e-3)
    assert (ok["albi_grade"] == albi.map(albi_grade)).all()
    ok = clinical.dropna(subset=["albumin_g_l", "lymphocytes_1e9_l"])
    np.testing.assert_allclose(ok["pni"], ok["albumin_g_l"] + 5 * ok["lymphocytes_1e9_l"],
                               atol=1e-2)
    for a, b, change in (("monocytes_0m", "monocytes_1m", "monocytes_change"),
                         ("pt_0m", "pt_1m", "pt_change")):
        ok = clinical.dropna(subset=[a, b])
        np.testing.assert_allclose(ok[change], (ok[b] - ok[a]) / ok[a], atol=1e-3)
    # Derived values are missing exactly when a component is.
    assert (clinical["albi"].isna() == clinical[["albumin_g_l", "bilirubin_umol_l"]]
            .isna().any(axis=1)).all()


def test_matched_cohort_table(matched, clinical):
    assert list(matched.columns) == list(clinical.columns)
    assert set(matched["center"]) == {"TCGA"}
    assert matched["response_3m"].isna().all() and matched["mrecist_3m"].isna().all()
    assert matched["os_days"].notna().all() and matched["pfs_days"].notna().all()
