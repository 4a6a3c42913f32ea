"""Rule habitat_model: population clustering of supervoxels of training patients only."""

import SimpleITK as sitk

from hccfusion import runlog
from hccfusion.habitats import fit_population, supervoxels

log = runlog.to_file(snakemake.log[0])
cfg, inp, n = snakemake.params.habitats, snakemake.input, len(snakemake.params.phases)
# Inputs come patient by patient, phases in config order; the first two phases are used.
tables = []
for i in range(0, len(inp.images), n):
    (art, ven), mask = inp.images[i : i + 2], inp.masks[i]
    _, table = supervoxels(sitk.ReadImage(art), sitk.ReadImage(ven), sitk.ReadImage(mask),
                           n_segments=cfg["n_segments"], seed=cfg["seed"])
    tables.append(table)
model = fit_population(tables, k=cfg["k"], seed=cfg["seed"])
model.save(snakemake.output[0])
log.info("habitat model: k=%d from %d training patients", cfg["k"], len(tables))
