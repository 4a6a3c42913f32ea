"""Rule merge_radiomics: the cohort's wide radiomics table and the list of excluded patients."""

from hccfusion import runlog
from hccfusion.feature_table import add_branch_exclusions, merge

log = runlog.to_file(snakemake.log[0])
features, excluded = merge(list(snakemake.input.rows), snakemake.params.phases)
# Patients the deep-learning crop excluded leave the whole cohort (the same patients everywhere).
features, excluded = add_branch_exclusions(features, excluded, snakemake.input.get("deep", []))
features.to_csv(snakemake.output.features, sep="\t", index=False, float_format="%.10g")
excluded.to_csv(snakemake.output.excluded, sep="\t", index=False)
log.info("%d patients x %d features; %d excluded", *features.shape, len(excluded))
for row in excluded.itertuples():
    log.warning("excluded %s: %s", row.patient_id, row.reason)
