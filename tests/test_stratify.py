"""Risk stratification (hccfusion.stratify) on real cohorts and on simulations with known truth.

Real data: GBSG2 (German Breast Cancer Study Group 2, Schumacher et al. J Clin Oncol 1994;12:
2086-93), WHAS500 (Worcester Heart Attack Study), the Veterans' lung-cancer trial (Kalbfleisch &
Prentice) from scikit-survival, and the Rossi recidivism data from lifelines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_rossi
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times
from scipy import stats
from sksurv.datasets import load_gbsg2, load_veterans_lung_cancer, load_whas500
from sksurv.nonparametric import kaplan_meier_estimator

from hccfusion.stratify import (
    COLUMNS,
    ConstantCovariateError,
    Subgroup,
    group_comparison,
    higher_is_worse,
    median_followup,
    multivariable_cox,
    risk_cutoff,
    risk_groups,
    stratification_rows,
    subgroup_analysis,
)


@pytest.fixture(scope="module")
def gbsg2() -> pd.DataFrame:
    X, y = load_gbsg2()
    frame = X.copy()
    frame["time"], frame["event"] = y["time"], y["cens"].astype(int)
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def veterans() -> pd.DataFrame:
    X, y = load_veterans_lung_cancer()
    frame = X.copy()
    frame["time"], frame["event"] = y["Survival_in_days"], y["Status"].astype(int)
    return frame.reset_index(drop=True)


def _direct_cox(time, event, x) -> tuple[float, float, float, float]:
    """HR, CI and p of one covariate by CoxPHFitter, written out independently of the module."""
    df = pd.DataFrame({"T": np.asarray(time, float), "E": np.asarray(event, int),
                       "x": np.asarray(x, float)})
    cph = CoxPHFitter().fit(df, "T", "E")
    row = cph.summary.loc["x"]
    return (row["exp(coef)"], row["exp(coef) lower 95%"], row["exp(coef) upper 95%"], row["p"])


def _simulate(n, log_hr, seed, censor_rate=0.05):
    """Exponential survival times for a linear predictor, independent exponential censoring."""
    rng = np.random.default_rng(seed)
    lp = log_hr(rng, n) if callable(log_hr) else log_hr
    t_event = rng.exponential(1.0 / (0.1 * np.exp(lp)))
    t_cens = rng.exponential(1.0 / censor_rate, size=n)
    return np.minimum(t_event, t_cens), (t_event <= t_cens).astype(int)


# --- cut-off ----------------------------------------------------------------------------------


def test_cutoff_is_the_training_median_and_frozen_for_validation():
    rng = np.random.default_rng(3)
    train, valid = rng.normal(size=101), rng.normal(loc=1.0, size=80)
    cut = risk_cutoff(train)
    assert cut == np.median(train)
    # Odd n: the median is a training score and, being >= the cut, it is high (documented tie).
    groups = risk_groups(train, cut)
    assert (groups == "high").sum() == 51 and (groups == "low").sum() == 50
    assert groups[np.argmin(np.abs(train - cut))] == "high"
    # The validation split uses the frozen number: shifting the validation scores changes their
    # groups but never the cut-off, and the validation groups are not forced to be balanced.
    v_groups = risk_groups(valid, cut)
    assert (v_groups == "high").mean() > 0.7
    np.testing.assert_array_equal(v_groups, np.where(valid >= cut, "high", "low"))
    time, event = _simulate(80, 0.0, seed=1)
    for shifted in (valid, valid + 5.0, valid * 10.0):
        rows = stratification_rows("r", "fusion", "os", "external", shifted, cut, time, event)
        assert rows.loc[rows["metric"] == "cutoff", "estimate"].item() == cut
    assert np.median(valid) != cut
    # A favourable binary outcome's probability: low values are the high-risk group, the
    # cut-off stays the training median of the probability and ties are still high.
    assert higher_is_worse({"type": "survival"})
    assert not higher_is_worse({"type": "binary", "event": "response_3m"})
    assert higher_is_worse({"type": "binary", "event": "early_pd", "favourable": False})
    prob = 1 / (1 + np.exp(-train))
    p_cut = risk_cutoff(prob)
    reversed_groups = risk_groups(prob, p_cut, higher_is_worse=False)
    np.testing.assert_array_equal(reversed_groups, np.where(prob <= p_cut, "high", "low"))
    assert reversed_groups[np.argmin(np.abs(prob - p_cut))] == "high"
    rows = stratification_rows("r", "fusion", "response", "external", 1 / (1 + np.exp(-valid)),
                               p_cut, time, event, higher_is_worse=False)
    cut_row = rows[rows.metric == "cutoff"].iloc[0]
    assert cut_row.estimate == p_cut and "score <= cutoff" in cut_row.note
    n_high = rows[(rows.metric == "median_survival") & (rows.level == "high")].n.item()
    assert n_high == int((1 / (1 + np.exp(-valid)) <= p_cut).sum())
    series = risk_groups(pd.Series(valid[:3], index=["a", "b", "c"]), cut)
    assert list(series.index) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="non-finite"):
        risk_cutoff([0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="no training"):
        risk_cutoff([])


# --- two-group comparison ---------------------------------------------------------------------


def test_group_comparison_agrees_with_lifelines_and_published_direction_gbsg2(gbsg2):
    # Hormonal therapy lowers the recurrence hazard in GBSG2 (Schumacher et al. 1994; HR about
    # 0.7, log-rank p about 0.003): "no therapy" as the high group must give HR > 1.
    group = np.where(gbsg2["horTh"] == "yes", "low", "high")
    res = group_comparison(gbsg2["time"], gbsg2["event"], group)
    high = (group == "high").astype(float)
    hr, lo, hi, p = _direct_cox(gbsg2["time"], gbsg2["event"], high)
    assert res["hr"] == pytest.approx(hr, rel=1e-6)
    assert res["hr_lower"] == pytest.approx(lo, rel=1e-6)
    assert res["hr_upper"] == pytest.approx(hi, rel=1e-6)
    assert res["hr_p"] == pytest.approx(p, rel=1e-6)
    assert 1.2 < res["hr"] < 1.7 and 1.0 / res["hr"] == pytest.approx(0.69, abs=0.03)
    h, low = gbsg2[group == "high"], gbsg2[group == "low"]
    lr = logrank_test(h["time"], low["time"], h["event"], low["event"])
    assert res["logrank_p"] == pytest.approx(lr.p_value, rel=1e-9)
    assert res["logrank_chi2"] == pytest.approx(lr.test_statistic, rel=1e-9)
    assert 0.001 < res["logrank_p"] < 0.01
    assert (res["n_low"], res["n_high"]) == (246, 440)
    assert res["events_low"] + res["events_high"] == res["n_events"] == int(gbsg2["event"].sum())
    # Median survival of the untreated group: first time the KM estimate (scikit-survival's
    # implementation, independent of lifelines) falls to 0.5 or below.
    t, s = kaplan_meier_estimator(h["event"].astype(bool), h["time"])
    assert res["median_high"] == t[np.argmax(s <= 0.5)]
    assert res["median_high_lower"] < res["median_high"] < res["median_high_upper"]
    assert res["median_low"] > res["median_high"]
    assert res["note"] == ""


def test_group_comparison_rossi_financial_aid():
    # Rossi et al. (1980): financial aid lowered re-arrest, borderline significant (p ~ 0.05).
    rossi = load_rossi()
    group = np.where(rossi["fin"] == 1, "low", "high")
    res = group_comparison(rossi["week"], rossi["arrest"], group)
    hr, lo, hi, p = _direct_cox(rossi["week"], rossi["arrest"], rossi["fin"] == 0)
    assert res["hr"] == pytest.approx(hr, rel=1e-6) and res["hr"] > 1.0
    assert res["hr_p"] == pytest.approx(p, rel=1e-6)
    assert 0.03 < res["logrank_p"] < 0.07
    # Over 70 % are never re-arrested in the 52 weeks: medians are not reached (inf, noted).
    assert np.isinf(res["median_low"]) and np.isinf(res["median_high"])


def test_single_group_and_no_event_cohorts_give_nan_with_a_reason(gbsg2):
    t, e = gbsg2["time"], gbsg2["event"]
    one = group_comparison(t, e, ["high"] * len(t))
    assert np.isnan(one["hr"]) and np.isnan(one["logrank_p"]) and np.isnan(one["hr_lower"])
    assert "only the high-risk group" in one["note"]
    assert one["n_low"] == 0 and np.isnan(one["median_low"]) and np.isfinite(one["median_high"])
    # No events in one group: log-rank is defined, the Cox HR is not (monotone likelihood).
    group = np.where(e == 1, "high", "low")
    res = group_comparison(t, e, group)
    assert res["events_low"] == 0 and np.isfinite(res["logrank_p"]) and res["logrank_p"] < 1e-6
    assert np.isnan(res["hr"]) and "no events in the low-risk group" in res["note"]
    none = group_comparison(t, np.zeros(len(t)), np.where(t > t.median(), "high", "low"))
    assert np.isnan(none["logrank_p"]) and "no events" in none["note"]
    with pytest.raises(ValueError, match="'low' or 'high'"):
        group_comparison(t, e, ["mid"] * len(t))
    # Rows with a missing time are left out, not fatal.
    t2 = t.astype(float).copy()
    t2.iloc[:5] = np.nan
    assert group_comparison(t2, e, group)["n"] == len(t) - 5


# --- follow-up --------------------------------------------------------------------------------


def test_median_followup_is_the_km_median_of_the_flipped_indicator():
    X, y = load_whas500()
    time, event = y["lenfol"], y["fstat"].astype(int)
    fu = median_followup(time, event)
    # Reverse KM by scikit-survival: censoring is the event.
    t, s = kaplan_meier_estimator(~y["fstat"], time)
    assert fu["median"] == t[np.argmax(s <= 0.5)]
    kmf = KaplanMeierFitter().fit(time, 1 - event)
    ci = median_survival_times(kmf.confidence_interval_)
    assert (fu["ci_lower"], fu["ci_upper"]) == (ci.iloc[0, 0], ci.iloc[0, 1])
    assert fu["ci_lower"] <= fu["median"] <= fu["ci_upper"]
    # Deaths cut follow-up short, so the naive median of all times understates it.
    assert fu["median"] > np.median(time)
    assert (fu["n"], fu["n_events"], fu["n_censored"]) == (500, 215, 285)
    everyone_died = median_followup(time, np.ones(len(time)))
    assert np.isnan(everyone_died["median"]) and "no censored" in everyone_died["note"]


# --- subgroups --------------------------------------------------------------------------------


def _interaction_frame(strong: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 800
    sub = rng.integers(0, 2, size=n)
    high = rng.integers(0, 2, size=n)
    # Strong: the high group is worse only where sub = 1 (log HR 1.5 vs 0). None: log HR 0.7 in
    # both levels.
    log_hr = np.where(sub == 1, 1.5, 0.0) * high if strong else 0.7 * high
    time, event = _simulate(n, log_hr + 0.3 * sub, seed=seed + 1)
    return pd.DataFrame({"time": time, "event": event, "sub": sub,
                         "group": np.where(high == 1, "high", "low")})


def test_subgroup_interaction_p_is_small_only_with_an_interaction():
    strong = subgroup_analysis(_interaction_frame(True, 11), {"S": "sub"}, "time", "event",
                               "group")
    none = subgroup_analysis(_interaction_frame(False, 11), {"S": "sub"}, "time", "event",
                             "group")
    assert list(strong["level"]) == ["0", "1"]
    assert strong["p_interaction"].iloc[0] < 1e-6
    assert none["p_interaction"].iloc[0] > 0.1
    assert strong["p_interaction"].nunique() == 1
    # Per-level HRs follow the simulated truth and equal a direct Cox fit on that level.
    assert strong.loc[0, "hr"] == pytest.approx(1.0, abs=0.3)
    assert strong.loc[1, "hr"] == pytest.approx(np.exp(1.5), rel=0.3)
    frame = _interaction_frame(True, 11)
    lvl = frame[frame["sub"] == 1]
    hr, lo, hi, p = _direct_cox(lvl["time"], lvl["event"], lvl["group"] == "high")
    assert strong.loc[1, ["hr", "ci_lower", "ci_upper", "p"]].tolist() == pytest.approx(
        [hr, lo, hi, p], rel=1e-6)
    assert strong["n"].sum() == len(frame)
    # The likelihood-ratio test agrees with the (asymptotically equivalent) Wald test of the
    # product term in lifelines' own formula interface.
    df = _interaction_frame(False, 11).assign(high=lambda d: (d["group"] == "high") * 1.0)
    cph = CoxPHFitter().fit(df[["time", "event", "high", "sub"]], "time", "event",
                            formula="high + sub + high:sub")
    assert none["p_interaction"].iloc[0] == pytest.approx(cph.summary.loc["high:sub", "p"],
                                                          abs=0.03)


def test_subgroup_cuts_come_from_training_values_not_the_analysed_cohort(veterans):
    # Karnofsky score split at the median of a "training" half, applied to the other half.
    train, valid = veterans.iloc[::2], veterans.iloc[1::2].reset_index(drop=True)
    sg = Subgroup.at_training_median("Karnofsky_score", train["Karnofsky_score"],
                                     labels=("low KPS", "high KPS"))
    assert sg.cut == np.median(train["Karnofsky_score"])
    shifted = valid.assign(Karnofsky_score=valid["Karnofsky_score"] + 15)
    for frame in (valid, shifted):
        level, order = sg.levels(frame)
        assert order == ["low KPS", "high KPS"]
        np.testing.assert_array_equal(
            level, np.where(frame["Karnofsky_score"] >= sg.cut, "high KPS", "low KPS"))
    # Fixed clinical cut (age >= 65) with ties at the cut in the upper level; a categorical
    # column recoded into regimens, seed-001 style; a mapping spec as a config would give it.
    valid = valid.assign(group=np.where(valid["Celltype"].isin(["adeno", "smallcell"]),
                                        "high", "low"))
    table = subgroup_analysis(
        valid,
        {"Age": {"column": "Age_in_years", "cut": 65},
         "Regimen": Subgroup("Treatment", recode={"standard": "standard", "test": "test drug"}),
         "KPS": sg},
        "time", "event", "group")
    assert table.groupby("subgroup", sort=False)["level"].apply(list).to_dict() == {
        "Age": ["< 65", ">= 65"], "Regimen": ["standard", "test drug"],
        "KPS": ["low KPS", "high KPS"]}
    age = table[table["subgroup"] == "Age"]
    assert age["n"].tolist() == [int((valid["Age_in_years"] < 65).sum()),
                                 int((valid["Age_in_years"] >= 65).sum())]
    assert table["hr"].notna().all() and table["note"].eq("").all()
    # Adeno and small-cell carcinomas carry the worse prognosis (Kalbfleisch & Prentice).
    whole = group_comparison(veterans["time"], veterans["event"],
                             np.where(veterans["Celltype"].isin(["adeno", "smallcell"]),
                                      "high", "low"))
    assert whole["hr"] > 1.5 and whole["logrank_p"] < 0.01
    with pytest.raises(KeyError, match="nonexistent"):
        subgroup_analysis(valid, {"x": "nonexistent"}, "time", "event", "group")
    with pytest.raises(ValueError, match="Age_in_years.*levels"):
        subgroup_analysis(valid, {"x": "Age_in_years"}, "time", "event", "group")


def test_subgroup_with_one_level_or_empty_cell_is_nan_with_reason(gbsg2):
    frame = gbsg2.assign(group=np.where(gbsg2["pnodes"] > 3, "high", "low"), one="all")
    table = subgroup_analysis(frame, {"One": "one"}, "time", "event", "group")
    assert len(table) == 1 and np.isnan(table["p_interaction"].iloc[0])
    assert "one subgroup level" in table["interaction_note"].iloc[0]
    assert np.isfinite(table["hr"].iloc[0])
    # A level where everyone is high risk: that level's HR is NaN with its reason.
    frame["nodes"] = np.where(frame["pnodes"] > 10, "many", "few")
    table = subgroup_analysis(frame, {"Nodes": "nodes"}, "time", "event", "group")
    many = table[table["level"] == "many"].iloc[0]
    assert np.isnan(many["hr"]) and "only the high-risk group" in many["note"]
    assert np.isnan(many["p_interaction"]) and "no events in the low-risk" in many[
        "interaction_note"]


# --- multivariable Cox ------------------------------------------------------------------------


def _confounded(seed=6, n=1000):
    """The risk group has no effect of its own; a confounder raises both risk and hazard."""
    rng = np.random.default_rng(seed)
    conf = rng.integers(0, 2, size=n)
    high = rng.random(n) < np.where(conf == 1, 0.8, 0.2)
    time, event = _simulate(n, 1.2 * conf, seed=seed + 1)
    return pd.DataFrame({"time": time, "event": event, "confounder": conf,
                         "risk_group": np.where(high, "high", "low")})


def test_multivariable_hr_of_group_adjusts_for_a_confounder():
    frame = _confounded()
    crude = multivariable_cox(frame, "time", "event", [])
    adjusted = multivariable_cox(frame, "time", "event", ["confounder"])
    assert crude["covariate"].tolist() == ["risk_group"]
    assert adjusted["covariate"].tolist() == ["risk_group", "confounder"]
    crude_hr, adj = crude["hr"].item(), adjusted.set_index("covariate")
    assert crude_hr > 1.5 and crude["p"].item() < 1e-6
    assert adj.loc["risk_group", "ci_lower"] < 1.0 < adj.loc["risk_group", "ci_upper"]
    assert adj.loc["confounder", "ci_lower"] < np.exp(1.2) < adj.loc["confounder", "ci_upper"]
    assert adj.loc["risk_group", ["level", "reference"]].tolist() == ["high", "low"]
    # Same numbers as CoxPHFitter on the hand-made design.
    df = pd.DataFrame({"T": frame["time"], "E": frame["event"],
                       "g": (frame["risk_group"] == "high") * 1.0, "c": frame["confounder"]})
    direct = CoxPHFitter().fit(df, "T", "E").summary
    assert adj["hr"].tolist() == pytest.approx(direct["exp(coef)"].tolist(), rel=1e-6)
    assert adj["p"].tolist() == pytest.approx(direct["p"].tolist(), rel=1e-6)


def test_multivariable_dummy_codes_categoricals_and_names_bad_columns(gbsg2):
    frame = gbsg2.assign(risk_group=np.where(gbsg2["pnodes"] > 3, "high", "low"))
    table = multivariable_cox(frame, "time", "event", ["tgrade", "horTh", "age"],
                              references={"tgrade": "II"})
    terms = list(zip(table["covariate"], table["level"], table["reference"], strict=True))
    assert terms == [("risk_group", "high", "low"), ("tgrade", "I", "II"),
                     ("tgrade", "III", "II"), ("horTh", "yes", "no"), ("age", "", "")]
    hor = table[table["covariate"] == "horTh"].iloc[0]
    assert hor["hr"] < 1.0 and hor["p"] < 0.05  # hormonal therapy protective when adjusted too
    assert (table["n"] == len(frame)).all()
    with pytest.raises(ConstantCovariateError, match="'constant'"):
        multivariable_cox(frame.assign(constant=1.0), "time", "event", ["constant"])
    with pytest.raises(ConstantCovariateError, match="'menostat'"):
        multivariable_cox(frame[frame["menostat"] == "Post"], "time", "event", ["menostat"])
    with pytest.raises(TypeError, match="'when'"):
        multivariable_cox(frame.assign(when=pd.Timestamp("2020-01-01")), "time", "event",
                          ["when"])
    with pytest.raises(TypeError, match="'pid'.*levels"):
        multivariable_cox(frame.assign(pid=[f"P{i}" for i in range(len(frame))]), "time",
                          "event", ["pid"])
    with pytest.raises(KeyError, match="'absent'"):
        multivariable_cox(frame, "time", "event", ["absent"])
    with pytest.raises(ValueError, match="reference 'IV'"):
        multivariable_cox(frame, "time", "event", ["tgrade"], references={"tgrade": "IV"})
    # Complete cases: a missing covariate value drops the patient, n says so.
    holes = frame.assign(age=frame["age"].where(frame.index >= 10))
    assert multivariable_cox(holes, "time", "event", ["age"])["n"].iloc[0] == len(frame) - 10


# --- the long table ---------------------------------------------------------------------------


def test_stratification_rows_long_table(gbsg2, tmp_path):
    train, valid = gbsg2.iloc[:400], gbsg2.iloc[400:].reset_index(drop=True)
    cut = risk_cutoff(train["pnodes"] + 0.01 * train["tsize"])
    risk = valid["pnodes"] + 0.01 * valid["tsize"]
    clinical = valid.drop(columns=["time", "event"]).assign(
        centre="B", size_cut=valid["tsize"])
    rows = stratification_rows(
        "PRIME-S", "fusion", "os", "external", risk, cut, valid["time"], valid["event"],
        clinical,
        subgroups={"Hormone therapy": "horTh", "Age": {"column": "age", "cut": 65},
                   "Tumour burden": Subgroup.at_training_median("tsize", train["tsize"])},
        adjust_for=["horTh", "tgrade"], references={"tgrade": "I"})
    assert list(rows.columns) == COLUMNS
    assert set(rows["analysis"]) == {"groups", "followup", "subgroup", "multivariable"}
    assert (rows[["recipe", "component", "endpoint", "cohort"]].drop_duplicates().values.tolist()
            == [["PRIME-S", "fusion", "os", "external"]])
    by = rows.set_index(["analysis", "subgroup", "level", "metric"])
    res = group_comparison(valid["time"], valid["event"], risk_groups(risk, cut))
    hr = by.loc[("groups", "all", "high vs low", "hr")]
    assert [hr["estimate"], hr["ci_lower"], hr["ci_upper"], hr["p"]] == pytest.approx(
        [res["hr"], res["hr_lower"], res["hr_upper"], res["hr_p"]])
    assert by.loc[("groups", "all", "high vs low", "logrank_p"), "p"] == pytest.approx(
        res["logrank_p"])
    assert by.loc[("groups", "all", "high", "median_survival"), "n"] == res["n_high"]
    fu = median_followup(valid["time"], valid["event"])
    assert by.loc[("followup", "all", "", "median_followup"), "estimate"] == fu["median"]
    inter = rows[rows["metric"] == "interaction_p"]
    assert inter["subgroup"].tolist() == ["Hormone therapy", "Age", "Tumour burden"]
    assert (inter["n"] == len(valid)).all()
    mv = rows[rows["analysis"] == "multivariable"]
    assert mv["subgroup"].unique().tolist() == ["unadjusted", "adjusted for horTh, tgrade"]
    assert mv["level"].tolist() == ["risk_group: high vs low", "risk_group: high vs low",
                                    "horTh: yes vs no", "tgrade: II vs I", "tgrade: III vs I"]
    # Round trip through the TSV (inf medians, NaNs, notes).
    path = tmp_path / "stratification.tsv"
    rows.to_csv(path, sep="\t", index=False)
    back = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    assert back.shape == rows.shape
    np.testing.assert_allclose(back["estimate"].astype(float), rows["estimate"].astype(float))


def test_stratification_rows_degenerate_cohort_does_not_stop_the_workflow(gbsg2):
    # A cut-off above every score: one group only; a covariate constant in this cohort.
    cohort = gbsg2[gbsg2["menostat"] == "Post"].reset_index(drop=True)
    rows = stratification_rows("r", "fusion", "os", "internal", cohort["pnodes"], 1e9,
                               cohort["time"], cohort["event"], cohort,
                               subgroups={"Hormone therapy": "horTh"}, adjust_for=["menostat"])
    hr = rows[(rows["analysis"] == "groups") & (rows["metric"] == "hr")].iloc[0]
    assert np.isnan(hr["estimate"]) and "only the low-risk group" in hr["note"]
    assert rows.loc[rows["metric"] == "median_followup", "estimate"].notna().all()
    mv = rows[rows["analysis"] == "multivariable"]
    assert mv["estimate"].isna().all() and mv["note"].str.len().gt(0).all()
    with pytest.raises(ValueError, match="clinical frame"):
        stratification_rows("r", "c", "os", "x", [1.0], 0.0, [1.0], [1], None,
                            subgroups={"a": "b"})
    with pytest.raises(KeyError, match="'absent'"):
        stratification_rows("r", "fusion", "os", "internal", cohort["pnodes"], 1.0,
                            cohort["time"], cohort["event"], cohort, adjust_for=["absent"])


def test_lr_interaction_matches_chi2_of_log_likelihoods():
    """The interaction p is the chi2 tail of twice the log-likelihood gain (3 levels, 2 df)."""
    rng = np.random.default_rng(21)
    n = 600
    sub = rng.integers(0, 3, size=n)
    high = rng.integers(0, 2, size=n)
    time, event = _simulate(n, np.array([0.0, 0.5, 1.5])[sub] * high, seed=22)
    frame = pd.DataFrame({"time": time, "event": event, "sub": np.array(["a", "b", "c"])[sub],
                          "group": np.where(high == 1, "high", "low")})
    table = subgroup_analysis(frame, {"S": "sub"}, "time", "event", "group")
    d = pd.get_dummies(frame["sub"], drop_first=True, dtype=float)
    base = pd.DataFrame({"T": time, "E": event, "h": high * 1.0}).join(d)
    full = base.assign(hb=base["h"] * base["b"], hc=base["h"] * base["c"])
    ll_r = CoxPHFitter().fit(base, "T", "E").log_likelihood_
    ll_f = CoxPHFitter().fit(full, "T", "E").log_likelihood_
    assert table["p_interaction"].iloc[0] == pytest.approx(stats.chi2.sf(2 * (ll_f - ll_r), 2))


def test_subgroups_from_config_cut_on_training_patients_only():
    from hccfusion.stratify import subgroups_from_config

    clinical = pd.DataFrame({"size": [1.0, 2.0, 3.0, 100.0, 200.0],
                             "tx": ["TACE", "HAIC", "TACE+HAIC", "TACE", "HAIC"]},
                            index=["A1", "A2", "A3", "B1", "B2"])
    specs = {"burden": {"column": "size", "cut": "training_median"},
             "age": {"column": "age", "cut": 65},
             "regimen": {"column": "tx", "recode": {"TACE": "mono", "HAIC": "mono",
                                                   "TACE+HAIC": "combination"}}}
    subgroups, absent = subgroups_from_config(specs, clinical, ["A1", "A2", "A3"])
    # The validation patients' huge sizes do not move the cut.
    assert subgroups["burden"].cut == 2.0
    assert absent == ["age (column 'age')"]
    levels, order = subgroups["regimen"].levels(clinical)
    assert order == ["mono", "combination"] and levels["A3"] == "combination"
