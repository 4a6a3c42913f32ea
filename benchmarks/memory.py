"""Declared against measured memory per rule: the whole workflow on a demo cohort, `--cores N`.

Runs `snakemake --cores N` with the default config on the demo cohort of ``--scale`` in a
working directory (or only reads one that has run, ``--no-run``), then prints one Markdown row
per rule: jobs, peak RSS of its largest job (Snakemake ``benchmark:`` max_rss), the ``mem_mb`` it
declares, and the share of it used. A rule whose jobs used more than declared is flagged: a
cluster would have killed them.

    .venv/bin/python benchmarks/memory.py /scratch/paper --scale paper --cores 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def run(work: Path, scale: str, cores: int) -> float:
    """The default config on the demo of ``scale`` in ``work``; returns the wall seconds."""
    work.mkdir(parents=True, exist_ok=True)
    out = f"resources/demo_{scale}"
    override = work / f"demo_{scale}.yaml"
    override.write_text(f"demo: {{generate: true, out: {out}, scale: {scale}, seed: 20260620}}\n"
                        f"patients: {out}/patients.tsv\nclinical: {out}/clinical.tsv\n")
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(work), "--cores", str(cores),
        "--configfile", str(REPO / "config" / "config.yaml"), str(override),
    ]
    start = time.monotonic()
    subprocess.run(command, check=True)
    return time.monotonic() - start


def table(work: Path) -> pd.DataFrame:
    """The run's per-rule benchmark summary with the share of the declared memory used."""
    bench = pd.read_csv(work / "results/tables/benchmarks.tsv", sep="\t")
    bench["share"] = bench.max_rss_mb / bench.declared_mem_mb
    return bench.sort_values("share", ascending=False, ignore_index=True)


def markdown(bench: pd.DataFrame) -> str:
    lines = ["| rule | jobs | total s | peak RSS MB | declared mem_mb | share |",
             "|---|---|---|---|---|---|"]
    for row in bench.itertuples():
        declared = "computed" if pd.isna(row.declared_mem_mb) else f"{row.declared_mem_mb:,.0f}"
        share = "" if pd.isna(row.share) else f"{row.share:.0%}"
        flag = " **over**" if row.share > 1 else ""
        lines.append(f"| {row.rule} | {row.jobs} | {row.total_s:,.0f} | {row.max_rss_mb:,.0f} | "
                     f"{declared} | {share}{flag} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="working directory of the run")
    parser.add_argument("--scale", choices=["tiny", "default", "paper"], default="paper")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--no-run", action="store_true", help="only read a finished run")
    args = parser.parse_args()
    if not args.no_run:
        wall = run(args.work, args.scale, args.cores)
        print(f"wall time: {wall / 60:.1f} min")
    bench = table(args.work)
    print(markdown(bench))
    over = bench[bench.share > 1]
    print(f"\n{len(bench)} rules, {int(bench.jobs.sum())} jobs; "
          f"{bench.declared_mem_mb.notna().sum()} declare a fixed mem_mb; over: "
          f"{', '.join(over.rule) if len(over) else 'none'}")


if __name__ == "__main__":
    main()
