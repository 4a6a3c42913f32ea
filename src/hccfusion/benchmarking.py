"""Summaries of Snakemake ``benchmark:`` files: time and peak memory per rule.

Every heavy rule writes ``results/benchmarks/<rule>/<job>.tsv`` (or ``<rule>.tsv``) with
Snakemake's columns (``s``, ``max_rss`` in MB, ...). This module folds them into one row per rule,
which is what a user sizing ``mem_mb`` and ``runtime`` for a cluster needs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["rule", "jobs", "total_s", "mean_s", "max_s", "max_rss_mb", "declared_mem_mb"]


def read_benchmarks(folder: str | Path) -> pd.DataFrame:
    """Every benchmark file below ``folder`` as one table with a ``rule`` and a ``job`` column."""
    folder = Path(folder)
    frames = []
    for path in sorted(folder.rglob("*.tsv")):
        rel = path.relative_to(folder)
        rule = rel.parts[0] if len(rel.parts) > 1 else path.stem
        frame = pd.read_csv(path, sep="\t", na_values=["-"])
        frame.insert(0, "job", path.stem)
        frame.insert(0, "rule", rule)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["rule", "job"])


def summarise(folder: str | Path, declared: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per rule: number of jobs, total / mean / max wall seconds, peak RSS (MB), and the
    ``mem_mb`` the rule declares (``declared``: rule -> MB; NaN where unknown or computed)."""
    table = read_benchmarks(folder)
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    grouped = table.groupby("rule")
    out = pd.DataFrame(
        {
            "jobs": grouped.size(),
            "total_s": grouped["s"].sum(),
            "mean_s": grouped["s"].mean(),
            "max_s": grouped["s"].max(),
            "max_rss_mb": grouped["max_rss"].max(),
        }
    ).reset_index()
    out["declared_mem_mb"] = out.rule.map(declared or {}).astype(float)
    return out[COLUMNS].sort_values("total_s", ascending=False, ignore_index=True)
