"""Rule demo_cohort: generate the synthetic demo cohort."""

from pathlib import Path

from hccfusion import runlog
from hccfusion.demo import generate_demo

log = runlog.to_file(snakemake.log[0])
summary = generate_demo(
    Path(snakemake.output[0]), seed=snakemake.params.seed, scale=snakemake.params.scale
)
for key, value in summary.items():
    log.info("%s: %s", key, value)
