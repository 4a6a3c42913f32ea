"""Rule radiomics: PyRadiomics features of one patient x phase, prefixed by the phase."""

import json

from hccfusion import runlog
from hccfusion.feature_table import write_row
from hccfusion.radiomics import extract

log = runlog.to_file(snakemake.log[0])
wc = snakemake.wildcards
with open(snakemake.input.qc) as fh:
    qc = json.load(fh)
if qc.get("status") == "excluded":
    log.warning("patient %s phase %s was excluded at ingest: %s", wc.patient, wc.phase, qc["reason"])
    write_row(snakemake.output[0], wc.patient, wc.phase, None, qc["reason"])
else:
    features = extract(
        snakemake.input.image, snakemake.input.mask, snakemake.input.params, prefix=f"{wc.phase}_"
    )
    log.info("%d features", len(features))
    write_row(snakemake.output[0], wc.patient, wc.phase, features)
