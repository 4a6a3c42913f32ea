"""Rule habitats: one patient's habitat map, ITH metrics and per-habitat radiomics."""

import pandas as pd
import SimpleITK as sitk

from hccfusion import runlog
from hccfusion.feature_table import write_row
from hccfusion.habitats import HabitatModel, habitat_radiomics, ith_metrics, supervoxels
from hccfusion.imaging.steps import excluded

log = runlog.to_file(snakemake.log[0])
wc, inp, out, cfg = snakemake.wildcards, snakemake.input, snakemake.output, snakemake.params.habitats
phases = snakemake.params.phases[:2]
upstream = excluded(inp.status)
if upstream:
    write_row(out.features, wc.patient, "ith", None, upstream["reason"])
    open(out.habitat_map, "wb").close()
else:
    images = [sitk.ReadImage(p) for p in inp.images[:2]]
    labels, table = supervoxels(images[0], images[1], sitk.ReadImage(inp.masks[0]),
                                n_segments=cfg["n_segments"], seed=cfg["seed"])
    model = HabitatModel.load(inp.model)
    habitat_map = model.assign(labels, table)
    sitk.WriteImage(habitat_map, out.habitat_map, useCompression=True)
    metrics = pd.Series(ith_metrics(habitat_map, model.k), dtype=float)
    metrics.index = [k if k.startswith("ith_") else f"ith_{k}" for k in metrics.index]
    parts = [metrics]
    for phase, image in zip(phases, images, strict=True):
        feats, skipped = habitat_radiomics(image, habitat_map, inp.params, model.k,
                                           prefix=f"ith_{phase}_")
        for habitat, reason in skipped.items():
            log.info("%s habitat %s: %s", phase, habitat, reason)
        parts.append(feats)
    write_row(out.features, wc.patient, "ith", pd.concat(parts))
