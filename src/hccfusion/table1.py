"""Table 1: baseline characteristics of the cohorts, with the test that fits each variable.

Seed 001 (Lu D, Sun P, Li H, et al. J Hepatocell Carcinoma 2026;13:613014), Statistical analysis:
"Categorical variables were summarized as counts (percentages) and continuous variables as
means +/- SD or medians (IQR). Comparisons used chi-square, Fisher's exact, Student's t-test, or
Mann-Whitney U-test as appropriate." Table 1 compares its two centres; this table also compares
the training and internal validation cohorts of the development centre (balance of the split).

Rules, per variable (all from scipy.stats):

* **Kind.** Text or boolean columns, and numeric columns whose values are all integers with at
  most ``max_levels`` distinct values (0/1 flags, ECOG-PS, ALBI grade), are categorical; the
  rest are continuous.
* **Continuous.** Normal when the Shapiro-Wilk test (Shapiro & Wilk 1965) on all non-missing
  values has p > ``normality_alpha``: mean (SD) and Welch's t-test (Welch 1947; unequal
  variances, the safe default). Otherwise median [IQR] and the two-sided Mann-Whitney U test
  (Mann & Whitney 1947). One choice per variable, so every column of a row reads alike.
* **Categorical.** n (%) of the non-missing values per level; Pearson's chi-square test of the
  groups x levels table (no continuity correction) when every expected count is at least
  ``min_expected`` (Cochran 1954), otherwise Fisher's exact test (2 x 2: the conditional exact
  test; larger: the Fisher-Freeman-Halton test by a seeded Monte Carlo over tables with the
  observed margins, as R's ``fisher.test(simulate.p.value = TRUE)``).
* **Missing.** The number of missing values per group is its own row under each variable.

The ``tableone`` package (Pollard et al. 2018) was considered: it picks Kruskal-Wallis rather
than Mann-Whitney for non-normal variables, leaves the normal/non-normal choice to the caller and
falls back to an uncorrected chi-square for tables larger than 2 x 2 with small expected counts,
so the tests here are computed with scipy directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from hccfusion.figures.km import format_p
from hccfusion.stratify import _level_name

__all__ = [
    "COHORT_LABELS",
    "DEFAULT_COMPARISONS",
    "categorical_test",
    "continuous_test",
    "is_categorical",
    "is_normal",
    "table1",
    "table1_variables",
    "to_markdown",
]

#: Column labels of the cohorts of ``results/splits.tsv``.
COHORT_LABELS = {
    "overall": "Overall",
    "train": "Training",
    "internal": "Internal validation",
    "external": "External validation",
    "development": "Development centre",
}
#: Comparisons: name -> (cohorts of the first group, cohorts of the second group).
DEFAULT_COMPARISONS = {
    "train_vs_internal": (("train",), ("internal",)),
    "development_vs_external": (("train", "internal"), ("external",)),
}


def is_categorical(values: pd.Series, max_levels: int = 5) -> bool:
    """Text/boolean, or integer-valued with at most ``max_levels`` distinct values."""
    v = values.dropna()
    if v.empty:
        return True
    if not pd.api.types.is_numeric_dtype(v) or pd.api.types.is_bool_dtype(v):
        return True
    x = v.to_numpy(dtype=float)
    return bool(np.all(x == np.round(x))) and len(np.unique(x)) <= max_levels


def is_normal(values: pd.Series, alpha: float = 0.05) -> bool:
    """Shapiro-Wilk p > ``alpha`` on the non-missing values (fewer than 3 values or a constant:
    not normal, so the rank test and median [IQR] are used)."""
    x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    if len(x) < 3 or np.ptp(x) == 0:
        return False
    return bool(stats.shapiro(x).pvalue > alpha)


def continuous_test(a, b, normal: bool) -> tuple[float, str]:
    """(p, test name): Welch's t-test when ``normal``, else the two-sided Mann-Whitney U test."""
    a = np.asarray(pd.to_numeric(pd.Series(a), errors="coerce").dropna(), float)
    b = np.asarray(pd.to_numeric(pd.Series(b), errors="coerce").dropna(), float)
    name = "Welch's t-test" if normal else "Mann-Whitney U"
    if len(a) < 2 or len(b) < 2:
        return np.nan, name
    if normal:
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue), name
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue), name


def categorical_test(
    table: np.ndarray, *, min_expected: float = 5.0, n_resamples: int = 20000, seed: int = 0
) -> tuple[float, str]:
    """(p, test name) of a groups x levels count table (levels with no patient dropped).

    Chi-square when every expected count is at least ``min_expected``, else Fisher's exact
    (2 x 2) or Fisher-Freeman-Halton by Monte Carlo (larger tables, ``n_resamples`` seeded).
    """
    t = np.asarray(table, dtype=np.int64)
    t = t[:, t.sum(axis=0) > 0]
    t = t[t.sum(axis=1) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return np.nan, "not tested (one level)"
    expected = stats.contingency.expected_freq(t)
    if expected.min() >= min_expected:
        return float(stats.chi2_contingency(t, correction=False).pvalue), "chi-square"
    if t.shape == (2, 2):
        return float(stats.fisher_exact(t).pvalue), "Fisher's exact"
    method = stats.MonteCarloMethod(n_resamples=n_resamples, rng=np.random.default_rng(seed))
    p = np.ravel(stats.fisher_exact(t, method=method).pvalue)[0]  # (1,) for some tables
    return float(p), "Fisher-Freeman-Halton (Monte Carlo)"


def table1_variables(columns, endpoints: Mapping[str, Mapping],
                     exclude=("patient_id", "center")) -> list[str]:
    """Columns of a clinical table that Table 1 describes: all but ids, the centre and the
    survival times of ``endpoints`` (follow-up, not a baseline characteristic)."""
    times = {e["time"] for e in endpoints.values() if e.get("type") == "survival" and "time" in e}
    return [c for c in columns if c not in set(exclude) | times]


def _fmt(x: float, digits: int) -> str:
    return "NA" if not np.isfinite(x) else f"{x:.{digits}f}"


def _continuous_summary(x: pd.Series, normal: bool, digits: int) -> str:
    v = pd.to_numeric(x, errors="coerce").dropna()
    if v.empty:
        return "NA"
    if np.nanmedian(np.abs(v)) < 10:  # small quantities (counts per nL, ratios): one more digit
        digits += 1
    if normal:
        sd = v.std(ddof=1) if len(v) > 1 else np.nan
        return f"{_fmt(v.mean(), digits)} ({_fmt(sd, digits)})"
    q1, med, q3 = np.percentile(v.to_numpy(float), [25, 50, 75])
    return f"{_fmt(med, digits)} [{_fmt(q1, digits)}, {_fmt(q3, digits)}]"


def table1(
    clinical: pd.DataFrame,
    cohorts: pd.Series,
    *,
    variables: Sequence[str] | None = None,
    comparisons: Mapping[str, tuple[Sequence[str], Sequence[str]]] = DEFAULT_COMPARISONS,
    max_levels: int = 5,
    normality_alpha: float = 0.05,
    min_expected: float = 5.0,
    digits: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Long Table 1, one row per variable (continuous), level (categorical) or missing count.

    ``clinical`` is indexed by patient; ``cohorts`` maps the same patients to ``train``,
    ``internal`` or ``external`` (``results/splits.tsv``); patients without a cohort are left
    out. Columns: ``variable``, ``level`` (empty for a continuous variable's row, ``Missing`` for
    the missing counts), ``kind`` (``continuous`` / ``categorical``), ``summary``
    (``mean (SD)``, ``median [IQR]``, ``n (%)`` or ``n``), one column per cohort with the
    summary text, then per comparison ``p_<name>`` and ``test_<name>`` (on the variable's first
    row only). The header row ``n`` gives each column's number of patients. ``normality_alpha``,
    ``min_expected`` and ``max_levels`` are kept in ``attrs`` for :func:`to_markdown`'s footnote.
    """
    cohorts = cohorts.dropna()
    data = clinical.loc[clinical.index.intersection(cohorts.index)]
    cohorts = cohorts.loc[data.index]
    present = [c for c in ("train", "internal", "external") if (cohorts == c).any()]
    columns = {"overall": data.index}
    columns.update({c: data.index[cohorts == c] for c in present})
    if {"train", "internal"} <= set(present):
        columns["development"] = data.index[cohorts.isin(["train", "internal"])]
    comps = {
        name: (data.index[cohorts.isin(a)], data.index[cohorts.isin(b)])
        for name, (a, b) in comparisons.items()
        if cohorts.isin(a).any() and cohorts.isin(b).any()
    }
    variables = list(variables) if variables is not None else list(data.columns)
    rows: list[dict] = [
        {"variable": "n", "level": "", "kind": "", "summary": "n",
         **{c: str(len(idx)) for c, idx in columns.items()}}
    ]
    for var in variables:
        x = data[var]
        if is_categorical(x, max_levels):
            levels = sorted(x.dropna().unique(), key=lambda v: (str(type(v)), v))
            first = True
            for level in levels:
                row = {"variable": var, "level": _level_name(level), "kind": "categorical",
                       "summary": "n (%)"}
                for c, idx in columns.items():
                    v = x.loc[idx].dropna()
                    k = int((v == level).sum())
                    row[c] = f"{k} ({100 * k / len(v):.{digits}f})" if len(v) else "0 (NA)"
                if first:
                    for name, (a, b) in comps.items():
                        counts = np.array([[int((x.loc[g] == lv).sum()) for lv in levels]
                                           for g in (a, b)])
                        p, test = categorical_test(counts, min_expected=min_expected, seed=seed)
                        row[f"p_{name}"], row[f"test_{name}"] = p, test
                    first = False
                rows.append(row)
        else:
            normal = is_normal(x, normality_alpha)
            row = {"variable": var, "level": "", "kind": "continuous",
                   "summary": "mean (SD)" if normal else "median [IQR]"}
            for c, idx in columns.items():
                row[c] = _continuous_summary(x.loc[idx], normal, digits)
            for name, (a, b) in comps.items():
                p, test = continuous_test(x.loc[a], x.loc[b], normal)
                row[f"p_{name}"], row[f"test_{name}"] = p, test
            rows.append(row)
        if x.isna().any():
            rows.append({"variable": var, "level": "Missing", "kind": "missing", "summary": "n",
                         **{c: str(int(x.loc[idx].isna().sum())) for c, idx in columns.items()}})
    order = ["variable", "level", "kind", "summary", *columns]
    for name in comps:
        order += [f"p_{name}", f"test_{name}"]
    out = pd.DataFrame(rows).reindex(columns=order)
    out.attrs.update(normality_alpha=normality_alpha, min_expected=min_expected,
                     max_levels=max_levels)
    return out


def to_markdown(table: pd.DataFrame, title: str = "Table 1. Patient characteristics", *,
                normality_alpha: float | None = None, min_expected: float | None = None) -> str:
    """The table of :func:`table1` as a Markdown table (one line per row, tests as footnote).

    The footnote states the rules with the thresholds :func:`table1` used (its ``attrs``; give
    them here for a table read back from a file; 0.05 and 5 when neither says)."""
    if normality_alpha is None:
        normality_alpha = table.attrs.get("normality_alpha", 0.05)
    if min_expected is None:
        min_expected = table.attrs.get("min_expected", 5.0)
    cohorts = [c for c in COHORT_LABELS if c in table.columns]
    comps = [c[2:] for c in table.columns if c.startswith("p_")]
    n_row = table[table.variable == "n"].iloc[0]
    head = ["Characteristic", *[f"{COHORT_LABELS[c]} (n = {n_row[c]})" for c in cohorts],
            *[f"p ({c.replace('_vs_', ' vs ').replace('_', ' ')})" for c in comps]]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    tests: set[str] = set()
    for r in table[table.variable != "n"].to_dict("records"):
        if r["kind"] == "continuous":
            label = f"{r['variable']}, {r['summary']}"
        elif r["kind"] == "missing":
            label = "&nbsp;&nbsp;Missing, n"
        else:
            label = f"{r['variable']} = {r['level']}, n (%)"
        ps = []
        for c in comps:
            p = r.get(f"p_{c}")
            test = r.get(f"test_{c}")
            if isinstance(test, str) and test:
                tests.add(test)
            ps.append(format_p(p, missing="")
                      + (f" ({test})" if isinstance(test, str) and test else ""))
        lines.append("| " + " | ".join([label, *[str(r[c]) for c in cohorts], *ps]) + " |")
    note = ("Continuous variables: mean (SD) when Shapiro-Wilk p > "
            f"{normality_alpha:g}, else median [IQR].")
    if tests & {"chi-square", "Fisher's exact", "Fisher-Freeman-Halton (Monte Carlo)"}:
        note += (f" Categorical variables: chi-square when every expected count is at least "
                 f"{min_expected:g}, else Fisher's exact test.")
    lines += ["", f"{note} Tests: {', '.join(sorted(tests))}."]
    return "\n".join(lines) + "\n"
