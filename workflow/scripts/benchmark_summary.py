"""Rule benchmark_summary: one row per rule of the run's benchmark files (time, peak memory)."""

from hccfusion import runlog
from hccfusion.benchmarking import summarise

log = runlog.to_file(snakemake.log[0])
table = summarise(snakemake.params.folder, snakemake.params.declared)
table.to_csv(snakemake.output[0], sep="\t", index=False, float_format="%.3f")
log.info("%d rules, %d jobs summarised", len(table), int(table.jobs.sum()) if len(table) else 0)
