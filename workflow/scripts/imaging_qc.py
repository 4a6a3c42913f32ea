"""Rule imaging_qc: the cohort's imaging QC table and the segmentation agreement table."""

import pandas as pd

from hccfusion import runlog
from hccfusion.imaging.steps import read_status

log = runlog.to_file(snakemake.log[0])
inp = snakemake.input
scans = pd.json_normalize([read_status(p) for p in inp.ingest], sep="_")
phase = pd.json_normalize([read_status(p) for p in inp.phase_check], sep="_")
phase = phase.add_prefix("phase_check_").rename(columns={"phase_check_patient": "patient"})
table = scans.merge(phase, on="patient", how="left").rename(columns={"patient": "patient_id"})
table.to_csv(snakemake.output.qc, sep="\t", index=False)
cols = [c for c in ("patient_id", "phase", "method", "dice_vs_provided", "hd95_vs_provided")
        if c in table.columns]
table[cols].to_csv(snakemake.output.segmentation, sep="\t", index=False)
log.info("%d scans, %d excluded", len(table), int((table.status == "excluded").sum()))
