"""Rule ingest: one patient x phase from the sheet to de-identified NIfTI, with its checks."""

import json
from pathlib import Path

from hccfusion import runlog
from hccfusion.errors import PatientInputError
from hccfusion.imaging.ingest import ingest

log = runlog.to_file(snakemake.log[0])
wc, out = snakemake.wildcards, snakemake.output
try:
    qc = ingest(
        snakemake.input.image,
        snakemake.input.mask,
        out.image,
        out.mask,
        patient=wc.patient,
        phase=wc.phase,
        series=snakemake.params.series or None,
    )
    qc["status"] = "ok"
except PatientInputError as exc:
    if snakemake.params.on_error != "exclude":
        log.error("%s", exc)
        raise
    log.warning("excluded: %s", exc)
    # The image outputs stay empty: downstream rules read the status first.
    for path in (out.image, out.mask):
        Path(path).write_bytes(b"")
    qc = {"patient": wc.patient, "phase": wc.phase, "status": "excluded", "reason": exc.reason}
with open(out.qc, "w") as fh:
    json.dump(qc, fh, indent=1, default=str)
