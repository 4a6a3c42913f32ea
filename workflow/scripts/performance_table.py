"""Rule performance_table: every estimate of every recipe in one long table."""

import pandas as pd

from hccfusion import runlog
from hccfusion.evaluate import COLUMNS

log = runlog.to_file(snakemake.log[0])
table = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input], ignore_index=True)
table = table[COLUMNS]
table.to_csv(snakemake.output[0], sep="\t", index=False, float_format="%.6g")
log.info("%d estimates", len(table))
