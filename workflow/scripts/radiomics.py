"""Rule radiomics: PyRadiomics features of one patient x phase, prefixed by the phase."""

from hccfusion import runlog
from hccfusion.feature_table import write_row
from hccfusion.imaging.steps import excluded
from hccfusion.radiomics import extract, workflow_options

log = runlog.to_file(snakemake.log[0])
wc, inp = snakemake.wildcards, snakemake.input
upstream = excluded(inp.status, inp.phase_check)
if upstream:
    log.warning("patient %s excluded upstream: %s", wc.patient, upstream["reason"])
    write_row(snakemake.output[0], wc.patient, wc.phase, None, upstream["reason"])
else:
    features = extract(
        inp.image, inp.mask, inp.params, prefix=f"{wc.phase}_", **workflow_options(snakemake.config)
    )
    log.info("%d features", len(features))
    write_row(snakemake.output[0], wc.patient, wc.phase, features)
