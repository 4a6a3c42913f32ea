"""Differential expression between two predicted groups, and per-gene Cox rankings.

* Counts: DESeq2 (Love MI, Huber W, Anders S. Moderated estimation of fold change and dispersion
  for RNA-seq data with DESeq2. Genome Biol 2014;15:550), as implemented by pydeseq2 (Muzellec B,
  Telenczuk M, Cabeli V, Andreux M. PyDESeq2. Bioinformatics 2023;39:btad547): median-of-ratios
  size factors, negative-binomial GLM with dispersions shrunk towards the mean-dispersion trend,
  Wald test, Cooks outlier refit, independent filtering and Benjamini-Hochberg adjustment.
* Normalised values (TPM, FPKM, log2): the Wilcoxon rank-sum (Mann-Whitney) test per gene on
  log2 values, Benjamini-Hochberg adjusted (Benjamini Y, Hochberg Y. J R Stat Soc B 1995;57:
  289-300). The rank test makes no distributional assumption that TPM/FPKM would break; the
  fold change is the difference of the groups' mean log2 values.

Both return :data:`COLUMNS`; ``stat`` is signed (positive = higher in the first group) and is the
ranking metric of GSEA prerank: DESeq2's Wald statistic, or the rank test's normal deviate
``sign * Phi^-1(1 - p/2)``.

:func:`cox_ranking` ranks genes by their association with survival instead of a group
difference: the Cox partial-likelihood score statistic of each gene (Cox DR. J R Stat Soc B 1972;
34:187-220), computed for all genes at once.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from hccfusion.errors import HccfusionError, name_list

__all__ = ["COLUMNS", "DEError", "benjamini_hochberg", "cox_ranking", "deseq2",
           "differential_expression", "rank_test", "ranking"]

log = logging.getLogger(__name__)

#: Columns of a differential-expression table (``results/tables/de_<recipe>.tsv`` adds
#: ``recipe, endpoint, contrast`` in front).
COLUMNS = ["gene", "base_mean", "log2fc", "lfc_se", "stat", "pval", "padj", "method"]
MIN_PER_GROUP = 2


class DEError(HccfusionError):
    """Groups or values that a differential-expression test cannot use."""


def _check_groups(samples: pd.Index, first: pd.Series) -> pd.Series:
    first = pd.Series(first).astype(bool)
    missing = pd.Index(first.index).difference(samples)
    if len(missing):
        raise DEError(f"grouped sample(s) absent from the expression matrix: {name_list(missing)}")
    n1, n2 = int(first.sum()), int((~first).sum())
    if min(n1, n2) < MIN_PER_GROUP:
        raise DEError(f"differential expression needs at least {MIN_PER_GROUP} samples per group; "
                      f"the groups have {n1} and {n2}")
    return first


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values; NaN p-values stay NaN and are not counted."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def deseq2(counts: pd.DataFrame, first: pd.Series, *, n_cpus: int = 1) -> pd.DataFrame:
    """DESeq2 Wald test of the first vs the second group (``first``: sample -> bool).

    ``counts``: genes x samples raw counts. Genes with zero counts in every sample get NaN
    statistics (DESeq2 does not test them).
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    first = _check_groups(counts.columns, first)
    data = counts[first.index].T.round().astype(np.int64)
    meta = pd.DataFrame({"group": np.where(first.to_numpy(), "first", "second")},
                        index=first.index)
    inference = DefaultInference(n_cpus=n_cpus)
    with warnings.catch_warnings():
        # pydeseq2 warns about genes it cannot test (all zeros) and sets them NaN: said below.
        warnings.simplefilter("ignore", UserWarning)
        dds = DeseqDataSet(counts=data, metadata=meta, design="~group", quiet=True,
                           inference=inference)
        dds.deseq2()
        res = DeseqStats(dds, contrast=["group", "first", "second"], quiet=True,
                         inference=inference)
        res.summary()
    table = res.results_df
    untested = int(table["stat"].isna().sum())
    if untested:
        log.info("DESeq2: %d gene(s) with no statistic (all-zero counts)", untested)
    return pd.DataFrame({
        "gene": table.index.to_numpy(), "base_mean": table["baseMean"].to_numpy(),
        "log2fc": table["log2FoldChange"].to_numpy(), "lfc_se": table["lfcSE"].to_numpy(),
        "stat": table["stat"].to_numpy(), "pval": table["pvalue"].to_numpy(),
        "padj": table["padj"].to_numpy(), "method": "deseq2_wald",
    }, columns=COLUMNS)


def rank_test(log_expr: pd.DataFrame, first: pd.Series) -> pd.DataFrame:
    """Wilcoxon rank-sum test per gene of log2 values, first vs second group, BH adjusted.

    Genes constant across the compared samples are not tested (NaN).
    """
    first = _check_groups(log_expr.columns, first)
    x = log_expr[first.index].to_numpy(dtype=float)
    a, b = x[:, first.to_numpy()], x[:, ~first.to_numpy()]
    n1, n2 = a.shape[1], b.shape[1]
    constant = np.ptp(x, axis=1) == 0
    pval = np.full(len(x), np.nan)
    u = np.full(len(x), np.nan)
    if (~constant).any():
        res = stats.mannwhitneyu(a[~constant], b[~constant], axis=1, alternative="two-sided")
        pval[~constant], u[~constant] = res.pvalue, res.statistic
    sign = np.sign(u - n1 * n2 / 2.0)
    stat = sign * stats.norm.isf(np.clip(pval, 1e-300, 1.0) / 2.0)
    return pd.DataFrame({
        "gene": log_expr.index.to_numpy(), "base_mean": x.mean(axis=1),
        "log2fc": a.mean(axis=1) - b.mean(axis=1), "lfc_se": np.nan, "stat": stat,
        "pval": pval, "padj": benjamini_hochberg(pval), "method": "wilcoxon_bh",
    }, columns=COLUMNS)


def differential_expression(expr: pd.DataFrame, first: pd.Series, values: str, *,
                            n_cpus: int = 1) -> pd.DataFrame:
    """DESeq2 for ``values == "counts"``, otherwise the rank test on log2 values."""
    from hccfusion.omics.expression import log2_expression

    if values == "counts":
        return deseq2(expr, first, n_cpus=n_cpus)
    return rank_test(log2_expression(expr, values), first)


def ranking(de: pd.DataFrame) -> pd.Series:
    """The GSEA prerank metric: ``stat`` by gene, untested genes dropped, largest first.

    A rank test's statistic takes few distinct values in a small cohort (U is an integer), and
    GSEA would order tied genes arbitrarily; ties are broken by the fold change, by adding less
    than half the smallest gap between distinct statistics, so no untied order changes.
    """
    table = de[np.isfinite(de["stat"].astype(float))]
    if table.empty:
        raise DEError("no gene has a differential-expression statistic to rank by")
    stat = table["stat"].to_numpy(dtype=float)
    distinct = np.unique(stat)
    if len(distinct) < len(stat):
        gap = np.diff(distinct).min() if len(distinct) > 1 else 1.0
        frame = pd.DataFrame({"stat": stat, "lfc": table["log2fc"].to_numpy(dtype=float)})
        frame["lfc"] = frame["lfc"].fillna(0.0)
        # Within each tie: rank by fold change, mapped into (-0.5, 0.5); untied genes get 0.
        pos = frame.groupby("stat")["lfc"].rank(method="first")
        size = frame.groupby("stat")["lfc"].transform("size")
        tie = np.where(size > 1, pos / (size + 1) - 0.5, 0.0)
        stat = stat + 0.9 * gap * tie
    r = pd.Series(stat, index=pd.Index(table["gene"], name="gene"), name="stat")
    return r.sort_values(ascending=False, kind="stable")


def cox_ranking(log_expr: pd.DataFrame, time, event) -> pd.Series:
    """Signed Cox score statistic z of each gene (genes x samples ``log_expr``): positive when
    higher expression goes with a higher hazard of the event.

    For covariate x the score at beta = 0 is ``U = sum_events (x_i - mean of x over the risk
    set)`` and its information ``V = sum_events (variance of x over the risk set)``, ties handled
    as Breslow; ``z = U / sqrt(V)`` is the score (log-rank type) test of a univariate Cox model,
    asymptotically equal to the Wald z, and is computed for every gene in one pass (a Wald fit
    per gene would take minutes on a 20 000-gene matrix). Each gene is z-scored first, which
    leaves z unchanged and keeps the sums well conditioned. Constant genes get NaN.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    x = log_expr.to_numpy(dtype=float).T  # samples x genes
    if not (len(time) == len(event) == x.shape[0]):
        raise DEError(f"{x.shape[0]} samples but {len(time)} times and {len(event)} events")
    ok = np.isfinite(time) & np.isfinite(event)
    if not ok.all():
        log.warning("Cox ranking: %d sample(s) without time or event left out", int((~ok).sum()))
        x, time, event = x[ok], time[ok], event[ok]
    if event.sum() < 2:
        raise DEError(f"Cox ranking needs events; {int(event.sum())} in {len(time)} samples")
    sd = x.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (x - x.mean(axis=0)) / sd
    order = np.argsort(-time, kind="stable")  # longest first: cumulative sums = risk sets
    x, time, event = x[order], time[order], event[order]
    s0 = np.arange(1, len(time) + 1, dtype=float)
    s1 = np.cumsum(x, axis=0)
    s2 = np.cumsum(x * x, axis=0)
    # Ties: the risk set of a time includes everyone with that time (the last row of the tie
    # in this order).
    last = pd.Series(np.arange(len(time))).groupby(time).transform("max").to_numpy()
    mean = s1[last] / s0[last, None]
    var = s2[last] / s0[last, None] - mean**2
    d = event.astype(bool)
    u = (x[d] - mean[d]).sum(axis=0)
    v = var[d].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where((sd > 0) & (v > 0), u / np.sqrt(v), np.nan)
    return pd.Series(z, index=log_expr.index, name="cox_z")
