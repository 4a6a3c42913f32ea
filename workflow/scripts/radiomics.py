"""Rule radiomics: PyRadiomics features of one patient x phase, prefixed by the phase."""

from hccfusion import runlog
from hccfusion.errors import PatientInputError
from hccfusion.feature_table import write_row
from hccfusion.imaging.steps import excluded
from hccfusion.radiomics import extract, workflow_options

log = runlog.to_file(snakemake.log[0])
wc, inp = snakemake.wildcards, snakemake.input
upstream = excluded(inp.status, inp.phase_check)
if upstream:
    log.warning("patient %s excluded upstream: %s", wc.patient, upstream["reason"])
    # Reported against the phase that failed (its other phases are excluded with it).
    write_row(snakemake.output[0], wc.patient, upstream.get("phase") or wc.phase, None,
              upstream["reason"])
else:
    try:
        features = extract(inp.image, inp.mask, inp.params, prefix=f"{wc.phase}_",
                           **workflow_options(snakemake.config))
    except PatientInputError as exc:  # e.g. a lesion that vanishes on the extraction grid
        error = PatientInputError(exc.reason, patient=wc.patient, phase=wc.phase, path=inp.mask)
        if snakemake.config["on_patient_error"] != "exclude":
            raise error from exc
        log.warning("excluded: %s", error)
        write_row(snakemake.output[0], wc.patient, wc.phase, None, exc.reason)
    else:
        log.info("%d features", len(features))
        write_row(snakemake.output[0], wc.patient, wc.phase, features)
