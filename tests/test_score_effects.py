"""Odds and hazard ratios per score unit (GTR-ITH's OR and HR, clinical scores)."""

import numpy as np
import pandas as pd

from hccfusion.score_effects import COLUMNS, effect_rows, hazard_ratio, odds_ratio


def _simulated(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(np.log(3.0) * score - 0.2)))).astype(int)
    time = rng.exponential(1 / (0.002 * np.exp(np.log(0.6) * score)))
    censor = rng.uniform(0, 1500, n)
    return score, y, np.minimum(time, censor), (time <= censor).astype(int)


def test_planted_odds_and_hazard_ratios_are_recovered():
    score, y, time, event = _simulated()
    or_, lo, hi, p, note = odds_ratio(score, y)
    assert lo < 3.0 < hi and 2.5 < or_ < 3.6 and p < 1e-10 and note == ""
    hr, lo, hi, p, note = hazard_ratio(score, time, event)
    assert lo < 0.6 < hi and 0.5 < hr < 0.7 and p < 1e-10 and note == ""
    # A null score: interval covers 1.
    null = np.random.default_rng(5).normal(size=len(y))
    _, lo, hi, p, _ = odds_ratio(null, y)
    assert lo < 1 < hi and p > 0.01


def test_degenerate_inputs_say_why():
    score, y, time, event = _simulated(100)
    assert "one outcome class" in odds_ratio(score, np.zeros(100))[4]
    assert np.isnan(odds_ratio(np.ones(100), y)[0])
    assert "no event" in hazard_ratio(score, time, np.zeros(100))[4]
    # Perfect separation: not estimable rather than an infinite OR.
    sep = odds_ratio(np.r_[np.zeros(50), np.ones(50)], np.r_[np.zeros(50), np.ones(50)])
    assert np.isnan(sep[0]) and "not estimable" in sep[4]


def test_effect_rows_per_cohort_and_endpoint():
    score, y, time, event = _simulated(600)
    ids = pd.Index([f"P{i:03d}" for i in range(600)], name="patient_id")
    clinical = pd.DataFrame({"resp": y, "os_days": time, "os_event": event}, index=ids)
    cohorts = pd.Series(np.repeat(["train", "internal", "external"], 200), index=ids)
    endpoints = {"response": {"type": "binary", "event": "resp"},
                 "os": {"type": "survival", "time": "os_days", "event": "os_event"}}
    table = effect_rows("GTR-ITH", "response", {"fusion": pd.Series(score, index=ids)},
                        cohorts, clinical, endpoints)
    assert list(table.columns) == COLUMNS and len(table) == 6
    assert set(table.measure) == {"odds_ratio", "hazard_ratio"}
    assert (table.n == 200).all()
    assert table.note[table.cohort == "train"].str.startswith("apparent").all()
    ors = table[table.measure == "odds_ratio"]
    assert (ors.estimate > 1.5).all() and (ors.ci_lower < ors.estimate).all()
    hrs = table[table.measure == "hazard_ratio"]
    assert (hrs.estimate < 1).all() and (hrs.estimate < hrs.ci_upper).all()
