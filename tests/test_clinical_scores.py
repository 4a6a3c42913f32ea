"""Clinical scores (ALBI, Child-Pugh, BCLC, CLIP, HAP, up-to-seven): hand-checked values at the
published thresholds, agreement with the demo's own indices, the outcome directions the demo
plants, and error messages that name patient, column and problem."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index
from scipy.stats import spearmanr

from hccfusion.clinical_scores import (
    DEFAULT_SCORES,
    LEVELS,
    SCORES,
    albi_grade,
    albi_score,
    bclc_stage,
    child_pugh_class,
    clip_score,
    compute_scores,
    describe_scores,
    disagreements,
    hap_class,
    hap_points,
    parse_bclc,
    up_to_seven_sum,
)
from hccfusion.errors import TableError


def patient(**overrides) -> dict:
    """A complete, low-risk patient: single 15 mm nodule, Child-Pugh 5, ECOG 0, AFP 10."""
    row = {"patient_id": "P1", "albumin_g_l": 40.0, "bilirubin_umol_l": 14.0,
           "child_pugh_score": 5, "ecog_ps": 0, "tumour_number": 1, "tumour_diameter_mm": 15.0,
           "pvtt": 0, "extrahepatic_metastasis": 0, "afp_ng_ml": 10.0, "bclc": "0"}
    row.update(overrides)
    return row


def table(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{**r, "patient_id": r.get("patient_id", f"P{i + 1}")}
                         for i, r in enumerate(rows)])


def one(name: str, **overrides) -> float:
    scores, _ = compute_scores(table(patient(**overrides)), [name])
    return float(scores[name].iloc[0])


# --- hand-checked values and thresholds ------------------------------------------------------

def test_albi_worked_example():
    # 0.66 * log10(14) - 0.085 * 40 = 0.66 * 1.146128 - 3.4 = 0.756445 - 3.4 = -2.643555
    assert albi_score(40.0, 14.0) == pytest.approx(-2.643555, abs=1e-6)
    assert one("albi") == pytest.approx(-2.643555, abs=1e-6)
    assert one("albi_grade") == 1.0  # -2.64 <= -2.60
    # bilirubin 10 umol/L (log10 = 1): 0.66 - 0.085 * 30 = -1.89 -> grade 2
    assert one("albi", albumin_g_l=30.0, bilirubin_umol_l=10.0) == pytest.approx(-1.89)
    assert one("albi_grade", albumin_g_l=30.0, bilirubin_umol_l=10.0) == 2.0


def test_albi_grade_boundaries():
    grades = albi_grade([-2.60, -2.60 + 1e-9, -1.39, -1.39 + 1e-9, -3.5, 0.0, np.nan])
    np.testing.assert_array_equal(grades, [1, 2, 2, 3, 1, 3, np.nan])


def test_child_pugh_class_boundaries():
    np.testing.assert_array_equal(child_pugh_class([5, 6, 7, 9, 10, 15]), [1, 1, 2, 2, 3, 3])
    assert [LEVELS["child_pugh_class"][int(one("child_pugh_class", child_pugh_score=s))]
            for s in (6, 7, 10)] == ["A", "B", "C"]


@pytest.mark.parametrize(("overrides", "stage"), [
    ({}, "0"),                                                     # single 15 mm, ECOG 0
    ({"tumour_diameter_mm": 20.0}, "0"),                           # single exactly 2 cm
    ({"tumour_diameter_mm": 20.1}, "A"),
    ({"tumour_diameter_mm": 90.0}, "A"),                           # single, any size (2022)
    ({"tumour_number": 3, "tumour_diameter_mm": 30.0}, "A"),       # 3 nodules, each <= 3 cm
    ({"tumour_number": 3, "tumour_diameter_mm": 30.1}, "B"),
    ({"tumour_number": 4, "tumour_diameter_mm": 10.0}, "B"),
    ({"tumour_number": 2, "pvtt": 1}, "C"),
    ({"extrahepatic_metastasis": 1}, "C"),
    ({"ecog_ps": 1}, "C"),
    ({"ecog_ps": 2, "tumour_number": 5}, "C"),
    ({"child_pugh_score": 9}, "0"),                                 # Child-Pugh B: not D
    ({"child_pugh_score": 10, "pvtt": 1}, "D"),                     # Child-Pugh C
    ({"ecog_ps": 3}, "D"),
])
def test_bclc_2022(overrides, stage):
    assert LEVELS["bclc"][int(one("bclc", **overrides))] == stage


def test_clip_points_and_boundaries():
    assert one("clip") == 0.0                                       # CP A, uninodular, AFP 10
    assert one("clip", afp_ng_ml=400.0) == 1.0                      # AFP exactly 400 scores
    assert one("clip", afp_ng_ml=399.9) == 0.0
    assert one("clip", tumour_number=2) == 1.0                      # multinodular
    assert one("clip", tumour_diameter_mm=100.0) == 2.0             # massive proxy, inclusive
    assert one("clip", tumour_diameter_mm=99.9, tumour_number=3) == 1.0
    assert one("clip", child_pugh_score=7) == 1.0 and one("clip", child_pugh_score=10) == 2.0
    assert one("clip", pvtt=1) == 1.0
    worst = dict(child_pugh_score=12, tumour_diameter_mm=150.0, afp_ng_ml=5000.0, pvtt=1)
    assert one("clip", **worst) == 6.0
    assert clip_score(5, 1, 60.0, 10.0, 0, massive_mm=50.0)[()] == 2.0


def test_clip_proxy_is_configurable_and_recorded():
    t = table(patient(tumour_diameter_mm=60.0))
    default, _ = compute_scores(t, ["clip"])
    custom, _ = compute_scores(t, ["clip"], clip_massive_mm=50.0)
    assert default["clip"].iloc[0] == 0.0 and custom["clip"].iloc[0] == 2.0
    assert custom.attrs["clip_massive_mm"] == 50.0
    assert ">= 50 mm" in custom.attrs["assumptions"]["clip"]
    assert ">= 100 mm" in describe_scores(["clip"])["assumption"].iloc[0]


def test_hap_points_and_boundaries():
    assert one("hap_points") == 0.0
    # every threshold exactly on its boundary scores no point (strict inequalities)
    edge = dict(albumin_g_l=36.0, afp_ng_ml=400.0, bilirubin_umol_l=17.0, tumour_diameter_mm=70.0)
    assert one("hap_points", **edge) == 0.0
    assert one("hap_points", albumin_g_l=35.9) == 1.0
    assert one("hap_points", afp_ng_ml=400.1) == 1.0
    assert one("hap_points", bilirubin_umol_l=17.1) == 1.0
    assert one("hap_points", tumour_diameter_mm=70.1) == 1.0
    np.testing.assert_array_equal(hap_points([30, 30, 40], [500, 500, 1], [20, 10, 10],
                                             [80, 10, 10]), [4, 2, 0])
    np.testing.assert_array_equal(hap_class([0, 1, 2, 3, 4]), [0, 1, 2, 3, 3])  # A, B, C, D, D
    assert one("hap_class", albumin_g_l=30.0, afp_ng_ml=500.0, bilirubin_umol_l=20.0,
               tumour_diameter_mm=80.0) == 3.0


def test_up_to_seven_boundary():
    assert up_to_seven_sum(2, 50.0)[()] == 7.0
    assert one("up_to_seven_sum", tumour_number=2, tumour_diameter_mm=50.0) == 7.0
    assert one("up_to_seven_beyond", tumour_number=2, tumour_diameter_mm=50.0) == 0.0  # within
    assert one("up_to_seven_beyond", tumour_number=3, tumour_diameter_mm=40.0) == 0.0  # 7.0
    assert one("up_to_seven_beyond", tumour_number=2, tumour_diameter_mm=50.1) == 1.0
    assert one("up_to_seven_beyond", tumour_number=1, tumour_diameter_mm=60.0) == 0.0  # 7.0
    assert one("up_to_seven_beyond", tumour_number=1, tumour_diameter_mm=61.0) == 1.0  # 7.1


def test_parse_bclc():
    assert [parse_bclc(v) for v in ("0", 0, "a", " B ", "BCLC-C", "D")] == [0, 0, 1, 2, 3, 4]
    assert math.isnan(parse_bclc(None)) and math.isnan(parse_bclc(""))
    with pytest.raises(ValueError, match="not a BCLC stage"):
        parse_bclc("E")


def test_registry_lists_what_each_score_needs():
    assert set(DEFAULT_SCORES) | {"bclc_given"} == set(SCORES)
    for name, (required, function, description) in SCORES.items():
        assert required and callable(function) and description, name
    assert SCORES["hap_points"].required == ("albumin_g_l", "afp_ng_ml", "bilirubin_umol_l",
                                             "tumour_diameter_mm")
    desc = describe_scores()
    assert list(desc["score"]) == list(SCORES)
    assert desc.set_index("score").loc["albi", "required_columns"] == \
        "albumin_g_l, bilirubin_umol_l"


# --- errors and missing values ---------------------------------------------------------------

def test_negative_albumin_names_patient_and_column():
    t = table(patient(), patient(patient_id="X07", albumin_g_l=-3.0))
    with pytest.raises(TableError, match=r"albumin_g_l.*negative.*must be > 0.*X07 \(-3\.0\)"):
        compute_scores(t, ["albi"])


def test_non_numeric_lab_names_patient_and_column():
    t = table(patient(), patient(patient_id="X08", afp_ng_ml="high"))
    with pytest.raises(TableError, match=r"afp_ng_ml.*not a number.*X08 \('high'\)"):
        compute_scores(t, ["clip"], on_missing="exclude")  # bad values are never excluded


@pytest.mark.parametrize(("column", "value", "problem"), [
    ("pvtt", 2, "must be 0 or 1"),
    ("tumour_number", 1.5, "whole number"),
    ("tumour_number", 0, "must be >= 1"),
    ("child_pugh_score", 16, "must be <= 15"),
    ("albumin_g_l", 3.9, r"g/dL\?"),
    ("bclc", "E", "not a BCLC stage"),
])
def test_invalid_values(column, value, problem):
    t = table(patient(), patient(patient_id="X09", **{column: value}))
    with pytest.raises(TableError, match=rf"'{column}'.*{problem}.*X09"):
        compute_scores(t, list(SCORES))


def test_bilirubin_in_mg_dl_is_caught():
    t = table(*(patient(patient_id=f"P{i}", bilirubin_umol_l=0.8) for i in range(3)))
    with pytest.raises(TableError, match=r"bilirubin_umol_l.*mg/dL"):
        compute_scores(t, ["albi"])


def test_missing_column_names_score_and_columns():
    t = table(patient()).drop(columns=["afp_ng_ml"])
    with pytest.raises(TableError, match=r"score 'hap_points' needs column\(s\) albumin_g_l, "
                                         r"afp_ng_ml, .*lacks afp_ng_ml"):
        compute_scores(t, ["albi", "hap_points"])
    compute_scores(t, ["albi", "bclc"])  # scores that do not need it still work


def test_missing_child_pugh_score_says_which_components_are_missing():
    t = table(patient()).drop(columns=["child_pugh_score"]).assign(inr=1.1)
    with pytest.raises(TableError) as err:
        compute_scores(t, ["child_pugh_class"])
    msg = str(err.value)
    assert "score 'child_pugh_class' needs column(s) child_pugh_score" in msg
    assert "bilirubin, albumin" in msg
    assert "lacks ascites grade, hepatic encephalopathy grade" in msg


def test_missing_values_error_or_exclude():
    t = table(patient(), patient(patient_id="X10", afp_ng_ml=None, albumin_g_l=np.nan))
    with pytest.raises(TableError, match=r"'afp_ng_ml' \(needed by clip, hap_points\) is "
                                         r"missing for patient\(s\) X10"):
        compute_scores(t, ["albi", "clip", "hap_points"])
    scores, excl = compute_scores(t, ["albi", "clip", "hap_points", "bclc"],
                                  on_missing="exclude")
    assert scores.index.tolist() == ["P1", "X10"] and scores.index.name == "patient_id"
    assert scores.loc["X10", ["albi", "clip", "hap_points"]].isna().all()
    assert scores.loc["X10", "bclc"] == 0.0 and scores.loc["P1"].notna().all()
    assert excl.to_dict("records") == [
        {"patient_id": "X10", "score": "albi", "reason": "missing albumin_g_l"},
        {"patient_id": "X10", "score": "clip", "reason": "missing afp_ng_ml"},
        {"patient_id": "X10", "score": "hap_points",
         "reason": "missing albumin_g_l, afp_ng_ml"},
    ]


def test_bad_arguments_and_ids():
    t = table(patient())
    with pytest.raises(ValueError, match="unknown clinical score.*'meld'"):
        compute_scores(t, ["meld"])
    with pytest.raises(ValueError, match="on_missing"):
        compute_scores(t, on_missing="drop")
    with pytest.raises(TableError, match="duplicated patient_id: P1"):
        compute_scores(pd.concat([t, t]))
    with pytest.raises(TableError, match="no 'patient_id' column"):
        compute_scores(t.drop(columns=["patient_id"]))


# --- the demo cohort -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_clinical(tmp_path_factory) -> pd.DataFrame:
    from hccfusion.demo import generate_demo

    out = tmp_path_factory.mktemp("scores_demo") / "demo"
    generate_demo(out, seed=1, scale="tiny", images=False)
    return pd.read_csv(out / "clinical.tsv", sep="\t")


def test_demo_albi_and_child_pugh_match_the_table(demo_clinical):
    with pytest.raises(TableError, match="missing values"):  # the demo has MCAR gaps
        compute_scores(demo_clinical)
    scores, excl = compute_scores(demo_clinical, on_missing="exclude")
    assert list(scores.columns) == [*DEFAULT_SCORES, "bclc_given"]
    given = demo_clinical.set_index("patient_id")
    np.testing.assert_allclose(scores["albi"], given["albi"], atol=5e-4 + 1e-12)
    np.testing.assert_array_equal(scores["albi_grade"], given["albi_grade"])
    classes = scores["child_pugh_class"].map(LEVELS["child_pugh_class"])
    assert (classes == given["child_pugh_class"]).all()
    # every excluded patient lacks exactly the named inputs
    for row in excl.itertuples():
        cols = row.reason.removeprefix("missing ").split(", ")
        assert given.loc[row.patient_id, cols].isna().all()
        assert math.isnan(scores.loc[row.patient_id, row.score])
    assert scores.isna().sum().sum() == len(excl)


def test_demo_bclc_disagreements_are_reported(demo_clinical):
    # The demo labels every patient C (PVTT, metastasis or ECOG >= 1) or else B; the 2022
    # algorithm agrees on C and moves small single or 2-3 small nodules to 0/A.
    scores, _ = compute_scores(demo_clinical, ["bclc", "bclc_given"])
    assert ((scores["bclc"] == 3) == (scores["bclc_given"] == 3)).all()
    report = disagreements(demo_clinical)
    assert report["n"].sum() == len(demo_clinical)
    n_disagree = int(report.loc[~report["agree"], "n"].sum())
    assert n_disagree == int((scores["bclc"] != scores["bclc_given"]).sum()) > 0
    assert set(report.loc[~report["agree"], "given"]) == {"B"}
    assert set(report.loc[~report["agree"], "computed"]) <= {"0", "A"}
    cp = disagreements(demo_clinical, "child_pugh_class")
    assert cp["agree"].all() and cp["n"].sum() == len(demo_clinical)


@pytest.fixture(scope="module")
def large_demo() -> pd.DataFrame:
    """2000 demo patients without images (fast). Their diameters are the generator's own
    log-uniform map of the size latent at paper scale (20-120 mm), so HAP's 70 mm and CLIP's
    100 mm thresholds are reached."""
    from hccfusion.demo import SCALES
    from hccfusion.demo.anatomy import lesion_parameters
    from hccfusion.demo.cohort import clinical_frame, simulate_centre, truth_frame

    recs = [r for c in "AB" for r in simulate_centre(3, c, 1000, SCALES["paper"],
                                                     geometry=False)]
    df = clinical_frame(recs).merge(truth_frame(recs), on="patient_id")
    df["tumour_diameter_mm"] = [
        round(2 * lesion_parameters(r.latents, SCALES["paper"])["max_radius"], 1) for r in recs]
    return df


# OS of the demo (hccfusion.demo.outcomes) rises with the hepatic-reserve latent (albumin down,
# bilirubin, PT and ascites up: ALBI, Child-Pugh, HAP), with PVTT and metastasis (BCLC C, CLIP);
# PFS rises with tumour size and number (up-to-seven). AFP and ECOG carry no outcome signal.
OS_SCORES = ["albi", "albi_grade", "child_pugh_score", "child_pugh_class", "bclc", "clip",
             "hap_points", "hap_class"]


def test_scores_point_to_worse_outcome_where_the_demo_plants_it(large_demo):
    scores, _ = compute_scores(large_demo, on_missing="exclude")
    d = large_demo.set_index("patient_id")
    for name in OS_SCORES:
        ok = scores[name].notna()
        rho = spearmanr(scores.loc[ok, name], d.loc[ok, "true_os_lp"])[0]
        c = concordance_index(d.loc[ok, "os_days"], -scores.loc[ok, name], d.loc[ok, "os_event"])
        assert rho > 0.05 and c > 0.5, (name, rho, c)
    for name in ("up_to_seven_sum", "up_to_seven_beyond"):
        rho = spearmanr(scores[name], d["true_pfs_lp"])[0]
        c = concordance_index(d["pfs_days"], -scores[name], d["pfs_event"])
        assert rho > 0.3 and c > 0.55, (name, rho, c)
    # the thresholds are reached: HAP's diameter point, CLIP's massive proxy
    assert (d["tumour_diameter_mm"] > 70).any() and (scores["clip"] >= 2).any()


def test_bclc_stage_is_vectorised_with_nan():
    out = bclc_stage([0, 0], [5, np.nan], [1, 1], [10.0, 10.0], [0, 0], [0, 0])
    assert out[0] == 0.0 and math.isnan(out[1])
