"""Rule imaging_qc: one row per patient x phase (geometry, mask volume, HU, acquisition)."""

import json

import pandas as pd

from hccfusion import runlog

log = runlog.to_file(snakemake.log[0])
rows = []
for path in snakemake.input:
    with open(path) as fh:
        rows.append(pd.json_normalize(json.load(fh), sep="_"))
table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
table.to_csv(snakemake.output.qc, sep="\t", index=False)
log.info("%d rows, %d excluded", len(table), int((table.get("status") == "excluded").sum()))
