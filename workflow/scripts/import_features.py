"""Rule import_features: a user's own radiomics table (config feature_table), checked."""

import pandas as pd

from hccfusion import runlog
from hccfusion.feature_table import load_user_table
from hccfusion.sheets import load_clinical

log = runlog.to_file(snakemake.log[0])
clinical = load_clinical(snakemake.input.clinical)
features = load_user_table(snakemake.input.table, clinical.patient_id)
features.to_csv(snakemake.output.features, sep="\t", index=False, float_format="%.10g")
# No imaging branch, so nobody is excluded for an imaging reason.
pd.DataFrame(columns=["patient_id", "reason"]).to_csv(snakemake.output.excluded, sep="\t",
                                                     index=False)
log.info("%d patients x %d features from %s", len(features), features.shape[1] - 1,
         snakemake.input.table)
