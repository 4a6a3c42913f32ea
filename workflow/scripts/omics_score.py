"""Rule omics_score: the frozen models score the matched patients; their groups by the training
cut-offs, one row per expression sample and recipe x endpoint."""

import pandas as pd

from hccfusion import runlog
from hccfusion.errors import name_list
from hccfusion.omics.expression import match_samples, read_sample_map
from hccfusion.omics.groups import predicted_groups
from hccfusion.persist import load_models, predict, read_table

log = runlog.to_file(snakemake.log[0])
inp, out, cfg = snakemake.input, snakemake.output, snakemake.config
features = read_table(inp.features, "features")
clinical = read_table(inp.clinical, "clinical")
# Patients the imaging branch excluded (results/omics/excluded.tsv) have no features: they are
# not scored, and their samples are left out below with a warning.
gone = sorted(set(clinical.patient_id) - set(features.patient_id))
if gone:
    log.warning("%d matched patient(s) without imaging features, not scored: %s", len(gone),
                name_list(gone))
clinical = clinical[clinical.patient_id.isin(features.patient_id)]
clinical.attrs["source"] = inp.clinical
predictions = pd.concat(
    [predict(load_models(d), features, clinical) for d in inp.models], ignore_index=True)
predictions.to_csv(out.predictions, sep="\t", index=False, float_format="%.8g")

with open(inp.expression) as fh:  # the sample ids are the matrix's header
    samples = pd.Index(fh.readline().rstrip("\r\n").split("\t")[1:])
matched = match_samples(samples, read_sample_map(inp.samples), predictions.patient_id.unique(),
                        source=inp.expression)
groups = predicted_groups(predictions, matched, cfg["endpoints"],
                          component=snakemake.params.component)
groups.to_csv(out.groups, sep="\t", index=False, float_format="%.8g")
for (recipe, endpoint), part in groups.groupby(["recipe", "endpoint"]):
    log.info("%s %s: %s", recipe, endpoint, part.group.value_counts().to_dict())
