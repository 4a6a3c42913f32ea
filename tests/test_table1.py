"""Table 1: test choice and numbers checked against scipy directly on the demo clinical table."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hccfusion.table1 import (
    categorical_test,
    is_categorical,
    table1,
    table1_variables,
    to_markdown,
)


@pytest.fixture(scope="module")
def demo(tiny_demo_tables):
    from hccfusion.sheets import load_clinical

    clinical = load_clinical(tiny_demo_tables / "clinical.tsv").set_index("patient_id")
    rng = np.random.default_rng(0)
    dev = clinical.index[clinical.center == "A"]
    cohort = pd.Series("external", index=clinical.index)
    cohort[dev] = np.where(rng.random(len(dev)) < 0.3, "internal", "train")
    return clinical, cohort


def _first_row(table, variable):
    return table[(table.variable == variable) & (table.kind != "missing")].iloc[0]


def test_continuous_test_and_summary_match_scipy(demo):
    clinical, cohort = demo
    table = table1(clinical, cohort, variables=["age", "afp_ng_ml"])
    for var in ("age", "afp_ng_ml"):
        x = clinical[var].dropna()
        normal = stats.shapiro(x).pvalue > 0.05
        row = _first_row(table, var)
        a = clinical.loc[cohort.isin(["train", "internal"]), var].dropna()
        b = clinical.loc[cohort == "external", var].dropna()
        if normal:
            assert row.summary == "mean (SD)"
            assert row.test_development_vs_external == "Welch's t-test"
            p = stats.ttest_ind(a, b, equal_var=False).pvalue
            assert row.overall.startswith(f"{x.mean():.1f} (" if abs(x.median()) >= 10
                                          else f"{x.mean():.2f} (")
        else:
            assert row.summary == "median [IQR]"
            assert row.test_development_vs_external == "Mann-Whitney U"
            p = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
        assert row.p_development_vs_external == pytest.approx(p)
    # AFP is heavily skewed: it must be the rank test
    assert _first_row(table, "afp_ng_ml").test_train_vs_internal == "Mann-Whitney U"


def test_both_continuous_branches_match_scipy():
    """A normal and a skewed variable: Welch's t-test and Mann-Whitney U are both taken,
    whatever the demo data hold, and their p-values are scipy's."""
    rng = np.random.default_rng(4)
    n = 120
    clinical = pd.DataFrame({"normal": rng.normal(50, 10, n), "skewed": rng.lognormal(0, 1.5, n)},
                            index=[f"P{i}" for i in range(n)])
    cohort = pd.Series(np.repeat(["train", "internal", "external"], n // 3),
                       index=clinical.index)
    assert stats.shapiro(clinical.normal).pvalue > 0.05  # the data are what the test needs
    assert stats.shapiro(clinical.skewed).pvalue < 0.05
    table = table1(clinical, cohort, variables=["normal", "skewed"])
    a = cohort.isin(["train", "internal"])
    for var, summary, test, p in (
            ("normal", "mean (SD)", "Welch's t-test",
             stats.ttest_ind(clinical.normal[a], clinical.normal[~a], equal_var=False).pvalue),
            ("skewed", "median [IQR]", "Mann-Whitney U",
             stats.mannwhitneyu(clinical.skewed[a], clinical.skewed[~a],
                                alternative="two-sided").pvalue)):
        row = _first_row(table, var)
        assert (row.summary, row.test_development_vs_external) == (summary, test)
        assert row.p_development_vs_external == pytest.approx(p)
    assert "Shapiro-Wilk p > 0.05," in to_markdown(table)
    # The footnote states the threshold actually used.
    strict = table1(clinical, cohort, variables=["normal", "skewed"], normality_alpha=1e-30)
    assert _first_row(strict, "skewed").summary == "mean (SD)"
    md = to_markdown(strict)
    assert "Shapiro-Wilk p > 1e-30," in md and "p > 0.05" not in md


def test_categorical_counts_and_test_match_scipy(demo):
    clinical, cohort = demo
    table = table1(clinical, cohort, variables=["sex", "hbv"])
    for var in ("sex", "hbv"):
        a = clinical.loc[cohort == "train", var]
        b = clinical.loc[cohort == "internal", var]
        levels = sorted(clinical[var].dropna().unique())
        counts = np.array([[int((g == lv).sum()) for lv in levels] for g in (a, b)])
        expected = stats.contingency.expected_freq(counts)
        row = _first_row(table, var)
        if expected.min() >= 5:
            assert row.test_train_vs_internal == "chi-square"
            p = stats.chi2_contingency(counts, correction=False).pvalue
        else:
            assert row.test_train_vs_internal == "Fisher's exact"
            p = stats.fisher_exact(counts).pvalue
        assert row.p_train_vs_internal == pytest.approx(p)
        level_rows = table[(table.variable == var) & (table.kind == "categorical")]
        n_train = int(level_rows.iloc[0].train.split()[0])
        assert n_train == int((a == levels[0]).sum())


def test_test_choice_rules():
    # expected counts >= 5: chi-square; small: Fisher (2x2) or Fisher-Freeman-Halton (larger)
    assert categorical_test(np.array([[30, 20], [25, 25]]))[1] == "chi-square"
    p, name = categorical_test(np.array([[8, 2], [1, 9]]))
    assert name == "Fisher's exact"
    assert p == pytest.approx(stats.fisher_exact([[8, 2], [1, 9]]).pvalue)
    ffh = np.array([[8, 2, 1], [1, 9, 3]])
    p, name = categorical_test(ffh)
    assert name.startswith("Fisher-Freeman")
    assert 0 < p <= 1
    assert categorical_test(ffh, seed=0)[0] == p  # seeded Monte Carlo: reproducible
    assert categorical_test(ffh, seed=3)[0] == categorical_test(ffh, seed=3)[0]
    assert is_categorical(pd.Series([0, 1, 1, np.nan]))
    assert not is_categorical(pd.Series(np.linspace(0, 1, 20)))


def test_missing_counts_and_variables():
    clinical = pd.DataFrame({"age": [50.5, 60.1, np.nan, 70.2, 55.3, 65.4],
                             "os_days": [1.0, 2, 3, 4, 5, 6]},
                            index=list("abcdef"))
    cohort = pd.Series(["train", "train", "train", "external", "external", "external"],
                       index=clinical.index)
    table = table1(clinical, cohort, variables=["age"])
    missing = table[(table.variable == "age") & (table.kind == "missing")].iloc[0]
    assert (missing.overall, missing.train, missing.external) == ("1", "1", "0")
    endpoints = {"os": {"type": "survival", "time": "os_days", "event": "os_event"}}
    assert table1_variables(["patient_id", "center", "age", "os_days"], endpoints) == ["age"]
