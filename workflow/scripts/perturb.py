"""Rule perturb: radiomics of the original and of perturbed re-segmentations of one scan."""

import zlib

import pandas as pd
import SimpleITK as sitk

from hccfusion import runlog
from hccfusion.radiomics import workflow_options
from hccfusion.robustness import perturbation_plan, perturbed_features

log = runlog.to_file(snakemake.log[0])
wc, inp, cfg = snakemake.wildcards, snakemake.input, snakemake.params.robustness
# A seed per scan from the config seed and the ids (crc32: stable across runs, unlike hash()).
seed = cfg["seed"] + zlib.crc32(f"{wc.patient}/{wc.phase}".encode())
plan = perturbation_plan(cfg["perturbations"], seed=seed)
# The unperturbed features are the radiomics job's row (same image, mask and parameters).
row = pd.read_csv(inp.original, sep="\t").iloc[0]
original = row.drop(["patient_id", "phase", "status", "reason"]).astype(float)
table = perturbed_features(
    sitk.ReadImage(inp.image), sitk.ReadImage(inp.mask), inp.params, plan,
    prefix=f"{wc.phase}_", original=original, **workflow_options(snakemake.config),
)
table.insert(0, "patient_id", wc.patient)
table.to_csv(snakemake.output[0], sep="\t", float_format="%.10g")
log.info("%d perturbations x %d features", len(table) - 1, table.shape[1] - 1)
