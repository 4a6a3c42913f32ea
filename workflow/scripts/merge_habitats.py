"""Rule merge_habitats: the cohort's habitat (ITH) feature table."""

from hccfusion import runlog
from hccfusion.feature_table import merge

log = runlog.to_file(snakemake.log[0])
features, excluded = merge(list(snakemake.input), ["ith"])
features.to_csv(snakemake.output[0], sep="\t", index=False, float_format="%.10g")
log.info("%d patients x %d habitat features; %d excluded", *features.shape, len(excluded))
