"""Rule cohort_tables: every recipe x endpoint's estimates in one table per kind."""

import pandas as pd

from hccfusion import runlog

log = runlog.to_file(snakemake.log[0])
for name in ("performance", "comparisons", "stratification", "score_effects"):
    parts = [pd.read_csv(p, sep="\t") for p in snakemake.input[name]]
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(snakemake.output[name], sep="\t", index=False, float_format="%.6g")
    log.info("%s: %d rows", name, len(table))
