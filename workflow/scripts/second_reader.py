"""Rule second_reader: features of the first and of the second reader's mask of one scan."""

import pandas as pd
import SimpleITK as sitk

from hccfusion import runlog
from hccfusion.errors import PatientInputError
from hccfusion.radiomics import workflow_options
from hccfusion.robustness import ORIGINAL, second_reader_features

log = runlog.to_file(snakemake.log[0])
wc, inp, seg = snakemake.wildcards, snakemake.input, snakemake.params.seg
row = pd.read_csv(inp.original, sep="\t").iloc[0]
original = row.drop(["patient_id", "phase", "status", "reason"]).astype(float)
options = workflow_options(snakemake.config)
try:
    table = second_reader_features(
        sitk.ReadImage(inp.image), inp.mask, inp.params, original=original,
        patient=wc.patient, phase=wc.phase, components=seg["components"],
        min_voxels=seg["min_voxels"], prefix=f"{wc.phase}_",
        preprocessing=options["preprocessing"],
    )
except PatientInputError as exc:
    if snakemake.params.on_error != "exclude":
        raise
    # The patient keeps their first-reader features; only their ICC contribution is lost.
    log.warning("second reader's mask left out: %s", exc)
    table = pd.DataFrame({ORIGINAL: original, "reader2": float("nan")}).T
    table.index.name = "rater"
table.insert(0, "patient_id", wc.patient)
table.to_csv(snakemake.output[0], sep="\t", float_format="%.10g")
log.info("%d features from two readers", table.shape[1] - 1)
