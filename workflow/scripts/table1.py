"""Rule table1: baseline characteristics per cohort with the test that fits each variable."""

import pandas as pd

from hccfusion import runlog
from hccfusion.sheets import load_clinical
from hccfusion.table1 import table1, table1_variables, to_markdown

log = runlog.to_file(snakemake.log[0])
inp, out, cfg = snakemake.input, snakemake.output, snakemake.config
clinical = load_clinical(inp.clinical).set_index("patient_id")
split = pd.read_csv(inp.split, sep="\t").set_index("patient_id").cohort
table = table1(clinical, split, variables=table1_variables(clinical.columns, cfg["endpoints"]))
table.to_csv(out.table, sep="\t", index=False, float_format="%.6g")
with open(out.markdown, "w") as fh:
    fh.write(to_markdown(table))
tests = table.filter(like="test_").stack().value_counts()
log.info("%d rows; tests used:\n%s", len(table), tests.to_string())
