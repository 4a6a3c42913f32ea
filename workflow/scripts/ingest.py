"""Rule ingest: one scan to de-identified NIfTI with its checked tumour mask."""

import json

from hccfusion import runlog
from hccfusion.errors import PatientInputError
from hccfusion.imaging.steps import guarded, prepare_scan

log = runlog.to_file(snakemake.log[0])
wc, inp, out, seg = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.params.seg


def step():
    if snakemake.params.missing:  # an empty sheet cell or absent file, under `exclude`
        raise PatientInputError(snakemake.params.missing, patient=wc.patient, phase=wc.phase)
    return prepare_scan(
        inp.image, out.image, out.mask, patient=wc.patient, phase=wc.phase,
        method=seg["method"], mask_path=inp.get("mask"), series=snakemake.params.series or None,
        boxes=snakemake.params.boxes, checkpoint=seg["medsam_checkpoint"],
        components=seg["components"], min_voxels=seg["min_voxels"],
    )


record = guarded(
    step,
    on_error=snakemake.params.on_error,
    outputs=[out.image, out.mask],
    record={"patient": wc.patient, "phase": wc.phase},
)
with open(out.status, "w") as fh:
    json.dump(record, fh, indent=1, default=str)
