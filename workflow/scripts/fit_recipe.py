"""Rule fit_recipe: one recipe x endpoint, fitted on training patients, validated, tabulated."""

import pandas as pd

from hccfusion import runlog
from hccfusion.recipes import run_recipe
from hccfusion.sheets import load_clinical

log = runlog.to_file(snakemake.log[0])
wc, inp = snakemake.wildcards, snakemake.input
clinical = load_clinical(inp.clinical).reset_index(drop=True)
radiomics = pd.read_csv(inp.features, sep="\t")
split = pd.read_csv(inp.split, sep="\t")
robust = None
if inp.robustness:
    report = pd.read_csv(inp.robustness[0], sep="\t")
    robust = list(report.feature[report.kept])
performance, predictions = run_recipe(
    wc.recipe, wc.endpoint, snakemake.config, clinical, radiomics, split, robust=robust
)
performance.to_csv(snakemake.output.performance, sep="\t", index=False, float_format="%.6g")
predictions.to_csv(snakemake.output.predictions, sep="\t", index=False, float_format="%.8g")
log.info("\n%s", performance.to_string())
