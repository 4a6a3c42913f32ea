"""Rule split: training / internal / external partition of the included patients."""

import pandas as pd

from hccfusion import runlog
from hccfusion.sheets import load_clinical, load_patients
from hccfusion.split import make_split

log = runlog.to_file(snakemake.log[0])
clinical = load_clinical(snakemake.input.clinical).reset_index(drop=True)
if "center" not in clinical.columns:
    # The centre may live in the patient sheet only.
    sheet = load_patients(snakemake.input.patients, snakemake.params.phases,
                          require_masks=False, allow_missing=True)
    clinical["center"] = clinical.patient_id.map(sheet.center)
excluded = pd.read_csv(snakemake.input.excluded, sep="\t")
included = clinical[~clinical.patient_id.isin(excluded.patient_id)]
log.info("%d patients, %d excluded before the split", len(clinical), len(clinical) - len(included))
split = make_split(included, {"split": snakemake.params.split})
split.to_csv(snakemake.output[0], sep="\t", index=False)
log.info("%s", split.cohort.value_counts().to_dict())
