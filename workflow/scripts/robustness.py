"""Rule robustness: ICC(3,1) per feature on training patients, and the keep decision."""

import pandas as pd

from hccfusion import runlog
from hccfusion.robustness import robustness_report

log = runlog.to_file(snakemake.log[0])
split = pd.read_csv(snakemake.input.split, sep="\t")
train = set(split.patient_id[split.cohort == "train"])
# One table per scan (rows: raters); phases side by side per patient.
by_patient = {}
for path in snakemake.input.tables:
    part = pd.read_csv(path, sep="\t", index_col="rater")
    by_patient.setdefault(part.pop("patient_id").iloc[0], []).append(part)
frames = {pid: pd.concat(parts, axis=1) for pid, parts in by_patient.items()}
table = pd.concat(frames, names=["patient_id"])
report = robustness_report(table, train, threshold=snakemake.params.threshold)
report.index.name = "feature"
report.to_csv(snakemake.output[0], sep="\t", float_format="%.6g")
log.info("%d of %d features kept (ICC > %s) on %d training patients",
         int(report.kept.sum()), len(report), snakemake.params.threshold, len(frames))
